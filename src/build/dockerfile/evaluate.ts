// Step-by-step evaluation of a stage, as Docker's classic builder dispatches it (moby
// builder/dockerfile/dispatchers.go): the builder calls beginStage with the base image's config,
// then evaluateInstruction for each instruction with the state the previous step returned. Each
// step says what to do (only commit a config, create a directory, run a command, copy files),
// the image config after it, its history text (`created_by`) and a canonical text for its cache
// key. Variables are substituted here, where Docker substitutes them (ADD, COPY, ENV, EXPOSE,
// LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG; not RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK/ONBUILD,
// whose shell text the shell expands at run time), with the stage's ENV and the ARGs it declared.
// RUN heredocs are handled as BuildKit handles them.

import { argsNotInEnv, isReferencedOrNotProxy, type ArgContext } from './args.ts';
import { exposedPortsOf, parseSignal } from './checks.ts';
import { evalError, type SourceLocation } from './errors.ts';
import { cleanPath, formatGoDuration, goList, goQuoteList } from './go-compat.ts';
import { envLookupOf, processWord, processWords, type EnvLookup } from './lex.ts';
import { expandWord } from './parse.ts';
import { chompHeredocContent, parseHeredoc } from './scanner.ts';
import type { CommandLine, CopyInstruction, CopySource, Dockerfile, HealthConfig, Instruction, RunInstruction } from './types.ts';

/** The runnable part of an image config, in the image config's own (OCI/Docker) field names. */
export interface RunConfig {
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, object>>;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly Volumes?: Readonly<Record<string, object>>;
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly StopSignal?: string;
  readonly OnBuild?: readonly string[] | null;
  readonly Healthcheck?: HealthcheckConfig | null;
  readonly Shell?: readonly string[] | null;
}

/** The image config's Healthcheck (durations in nanoseconds; zero fields omitted). */
export interface HealthcheckConfig {
  readonly Test?: readonly string[];
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly StartPeriod?: number;
  readonly StartInterval?: number;
  readonly Retries?: number;
}

export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where a stage's evaluation is: the config so far and the ARGs it declared. */
export interface StageState {
  readonly stage: number;
  readonly escapeToken: string;
  readonly args: ArgContext;
  readonly config: RunConfig;
  /** ARGs declared in this stage: name -> default (substituted), undefined without one. */
  readonly declaredArgs: ReadonlyMap<string, string | undefined>;
  /** A CMD with arguments was given in this stage (an ENTRYPOINT then keeps it). */
  readonly cmdSet: boolean;
  /** MAINTAINER, the image's author. */
  readonly author: string | undefined;
}

interface StepBase {
  readonly instruction: Instruction;
  /** The state after this step: pass it to the next evaluateInstruction. */
  readonly state: StageState;
  /** Lines the classic builder prints for this step (e.g. "Note: overriding previous HEALTHCHECK: …"). */
  readonly notes: readonly string[];
}

/** A step that only changes the config: commit it (an empty layer). */
export interface ConfigStep extends StepBase {
  readonly kind: 'config';
  readonly createdBy: string;
  readonly cacheKey: string;
}

/** WORKDIR: create the directory (owned by root, as the classic builder does) and commit. */
export interface WorkdirStep extends StepBase {
  readonly kind: 'workdir';
  readonly path: string;
  readonly createdBy: string;
  readonly cacheKey: string;
}

export interface InlineFile {
  /** Where to mount it read-only in the RUN container. */
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

export interface RunSpec {
  /** The command: SHELL + text for the shell form, the array for the exec form. */
  readonly argv: readonly string[];
  /** The stage's ENV then the ARGs in scope (KEY=value). */
  readonly env: readonly string[];
  readonly user: string;
  readonly workingDir: string;
  /** Heredoc scripts to mount (BuildKit's `#!` heredocs, at /dev/pipes/NAME). */
  readonly files: readonly InlineFile[];
  /** BuildKit-only flags; the classic builder refuses any (see requiresBuildKit). */
  readonly flagsUsed: readonly string[];
  readonly mounts: readonly string[];
  readonly network: string | undefined;
  readonly security: string | undefined;
  readonly devices: readonly string[];
}

export interface RunStep extends StepBase {
  readonly kind: 'run';
  readonly run: RunSpec;
  /** `|1 A=b /bin/sh -c echo hi` (build args in scope prefixed, as the classic builder). */
  readonly createdBy: string;
  readonly cacheKey: string;
}

export type CopySourcePath =
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'url'; readonly url: string };

export interface CopySpec {
  readonly keyword: 'COPY' | 'ADD';
  /** Context, an earlier stage, or an image (`--from`). */
  readonly from: CopySource;
  readonly sources: readonly CopySourcePath[];
  /** Heredoc files: name and content (substituted unless the terminator was quoted). */
  readonly inline: readonly { readonly name: string; readonly content: string }[];
  /** The destination as written, substituted. */
  readonly destText: string;
  /** Absolute, relative to WORKDIR; a trailing `/` kept. */
  readonly dest: string;
  /** The destination names a directory (ends in `/`, or is `.`). */
  readonly destIsDir: boolean;
  readonly chown: string | undefined;
  /** `--chmod` as a mode (0 to 0o7777). */
  readonly chmod: number | undefined;
  readonly link: boolean;
  readonly exclude: readonly string[];
  readonly parents: boolean;
  readonly checksum: string | undefined;
  readonly keepGitDir: boolean | undefined;
  /** ADD: unpack local archives (default true for ADD, false for COPY). */
  readonly unpack: boolean;
  /** Without --chown, COPY --from keeps the files' owners; otherwise they become root's. */
  readonly preserveOwnership: boolean;
}

/** COPY/ADD: resolve the sources, compute their checksum, then copyStepKeys for history and cache. */
export interface CopyStep extends StepBase {
  readonly kind: 'copy';
  readonly copy: CopySpec;
}

export type EvaluatedStep = ConfigStep | WorkdirStep | RunStep | CopyStep;

function shellOf(config: RunConfig): readonly string[] {
  return config.Shell !== undefined && config.Shell !== null && config.Shell.length > 0 ? config.Shell : DEFAULT_SHELL;
}

/** `/bin/sh -c #(nop)  CMD ["sh"]`: the two-argument comment most instructions commit with. */
function nopComment(config: RunConfig, comment: string): string {
  return [...shellOf(config), '#(nop) ', comment].join(' ');
}

/** `/bin/sh -c #(nop) WORKDIR /app`: the one-argument comment of WORKDIR, COPY and ADD. */
function nopCommentString(config: RunConfig, comment: string): string {
  return [...shellOf(config), `#(nop) ${comment}`].join(' ');
}

function envKey(e: string): string {
  const i = e.indexOf('=');
  return i === -1 ? e : e.slice(0, i);
}

function setEnv(env: readonly string[], key: string, value: string): string[] {
  const out = [...env];
  const i = out.findIndex((e) => envKey(e) === key);
  if (i === -1) out.push(`${key}=${value}`);
  else out[i] = `${key}=${value}`;
  return out;
}

/**
 * The state at the start of a stage: the base image's config (undefined for scratch) with PATH
 * defaulted, and its ONBUILD triggers taken out (run them first: parseTrigger, then
 * evaluateInstruction each; the classic builder clears OnBuild before running them).
 */
export function beginStage(dockerfile: Pick<Dockerfile, 'escapeToken' | 'globalArgs' | 'buildArgs'>, stage: number, base: RunConfig | undefined): { state: StageState; triggers: readonly string[] } {
  const config: RunConfig = { ...(base ?? {}) };
  const env = config.Env ?? [];
  const withPath = env.some((e) => envKey(e) === 'PATH') ? [...env] : [...env, `PATH=${DEFAULT_PATH}`];
  const triggers = config.OnBuild ?? [];
  const { OnBuild: _dropped, ...rest } = config;
  return {
    state: {
      stage,
      escapeToken: dockerfile.escapeToken,
      args: { meta: dockerfile.globalArgs, buildArgs: dockerfile.buildArgs },
      config: { ...rest, Env: withPath },
      declaredArgs: new Map(),
      cmdSet: false,
      author: undefined,
    },
    triggers: [...triggers],
  };
}

/** What substitution sees at this point: ENV first, then the ARGs in scope not shadowed by ENV. */
export function substitutionEnv(state: StageState): EnvLookup {
  const env = state.config.Env ?? [];
  return envLookupOf(env, argsNotInEnv(state.args, state.declaredArgs, env));
}

function resolveCmdLine(command: CommandLine, config: RunConfig, emptyAsNil: boolean): string[] | null {
  if (command.form === 'exec') return emptyAsNil && command.args.length === 0 ? null : [...command.args];
  return [...shellOf(config), ...(command.text === '' ? [] : [command.text])];
}

function healthText(h: HealthConfig): string {
  return (
    `&{Test:${goList(h.test)} Interval:${formatGoDuration(h.interval)} Timeout:${formatGoDuration(h.timeout)} ` +
    `StartPeriod:${formatGoDuration(h.startPeriod)} StartInterval:${formatGoDuration(h.startInterval)} Retries:${h.retries}}`
  );
}

function healthConfig(h: HealthConfig): HealthcheckConfig {
  const out: { -readonly [K in keyof HealthcheckConfig]: HealthcheckConfig[K] } = { Test: [...h.test] };
  if (h.interval !== 0) out.Interval = h.interval;
  if (h.timeout !== 0) out.Timeout = h.timeout;
  if (h.startPeriod !== 0) out.StartPeriod = h.startPeriod;
  if (h.startInterval !== 0) out.StartInterval = h.startInterval;
  if (h.retries !== 0) out.Retries = h.retries;
  return out;
}

/** Docker's normalizeWorkdir: relative paths join the current directory. */
export function normalizeWorkdir(current: string, requested: string): string {
  if (requested === '') throw new Error('cannot normalize nothing');
  if (!requested.startsWith('/')) return cleanPath(`/${current}/${requested}`);
  return cleanPath(requested);
}

/** COPY/ADD destinations: relative to WORKDIR, a trailing `/` kept; `.` means the directory. */
export function normalizeDest(workingDir: string, requested: string): string {
  const dest = requested === '' || requested === '.' ? './' : requested;
  const endsInSlash = dest.endsWith('/') || dest.endsWith('/.') || dest === '..' || dest.endsWith('/..');
  const joined = dest.startsWith('/') ? cleanPath(dest) : cleanPath(`/${workingDir}/${dest}`);
  return endsInSlash && joined !== '/' ? `${joined}/` : joined;
}

/** The classic builder's refusal of BuildKit-only flags, for a builder that does not implement them. */
export function requiresBuildKit(option: string): string {
  return `the --${option} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`;
}

function isURL(s: string): boolean {
  return s.startsWith('http://') || s.startsWith('https://');
}

function parseChmod(chmod: string, location: SourceLocation): number {
  const err = (): Error => evalError(`invalid chmod parameter: '${chmod}'. it should be octal string and between 0 and 07777`, location);
  if (!/^[0-7]+$/.test(chmod)) throw err();
  const mode = parseInt(chmod, 8);
  if (mode > 0o7777) throw err();
  return mode;
}

function runHeredocs(instr: RunInstruction, args: string[]): { args: string[]; files: InlineFile[] } {
  const files = instr.heredocs;
  if (files.length === 0) return { args, files: [] };
  if (args.length !== 1 || instr.command.form !== 'shell') {
    throw evalError(`parsing produced an invalid run command: ${goList(args)}`, instr.location);
  }
  const first = files[0]!;
  if (parseHeredoc(args[0]!) !== undefined) {
    const data = first.chomp ? chompHeredocContent(first.content) : first.content;
    if (data.startsWith('#!')) {
      const path = `/dev/pipes/${first.name}`;
      return { args: [path], files: [{ path, content: data, mode: 0o755 }] };
    }
    return { args: [data], files: [] };
  }
  let text = args[0]!;
  for (const f of files) text += `\n${f.content}${f.name}`;
  return { args: [text], files: [] };
}

function step<K extends 'config' | 'workdir'>(kind: K, instruction: Instruction, state: StageState, createdBy: string, notes: string[] = []) {
  return { kind, instruction, state, createdBy, cacheKey: createdBy, notes };
}

/**
 * Evaluate one instruction of a stage. Throws a DockerfileError with Docker's message and the
 * instruction's location when a value is invalid.
 */
export function evaluateInstruction(state: StageState, instruction: Instruction): EvaluatedStep {
  const loc = instruction.location;
  const env = substitutionEnv(state);
  const word = (w: string): string => expandWord(w, env, state.escapeToken, loc);
  const config = state.config;

  switch (instruction.keyword) {
    case 'ENV': {
      const pairs = instruction.pairs.map((p) => ({ key: word(p.key), value: word(p.value) }));
      let next = config.Env ?? [];
      for (const p of pairs) next = setEnv(next, p.key, p.value);
      const newConfig = { ...config, Env: next };
      const comment = `ENV ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
      return step('config', instruction, { ...state, config: newConfig }, nopComment(newConfig, comment));
    }
    case 'LABEL': {
      const pairs = instruction.noExpand ? instruction.pairs : instruction.pairs.map((p) => ({ key: word(p.key), value: word(p.value) }));
      const labels: Record<string, string> = { ...(config.Labels ?? {}) };
      for (const p of pairs) labels[p.key] = p.value;
      const newConfig = { ...config, Labels: labels };
      const comment = `LABEL ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
      return step('config', instruction, { ...state, config: newConfig }, nopComment(newConfig, comment));
    }
    case 'MAINTAINER': {
      return step('config', instruction, { ...state, author: instruction.maintainer }, nopComment(config, `MAINTAINER ${instruction.maintainer}`));
    }
    case 'USER': {
      const user = word(instruction.user);
      const newConfig = { ...config, User: user };
      return step('config', instruction, { ...state, config: newConfig }, nopComment(newConfig, `USER ${user}`));
    }
    case 'WORKDIR': {
      let dir: string;
      try {
        dir = normalizeWorkdir(config.WorkingDir ?? '', word(instruction.path));
      } catch (e) {
        throw evalError((e as Error).message, loc);
      }
      const newConfig = { ...config, WorkingDir: dir };
      return { ...step('workdir', instruction, { ...state, config: newConfig }, nopCommentString(newConfig, `WORKDIR ${dir}`)), path: dir };
    }
    case 'VOLUME': {
      const volumes = instruction.volumes.map(word);
      if (volumes.some((v) => v === '')) throw evalError('VOLUME specified can not be an empty string', loc);
      const map: Record<string, object> = { ...(config.Volumes ?? {}) };
      for (const v of volumes) map[v] = {};
      const newConfig = { ...config, Volumes: map };
      return step('config', instruction, { ...state, config: newConfig }, nopComment(newConfig, `VOLUME ${goList(volumes)}`));
    }
    case 'STOPSIGNAL': {
      const signal = word(instruction.signal);
      try {
        parseSignal(signal);
      } catch (e) {
        throw evalError((e as Error).message, loc);
      }
      const newConfig = { ...config, StopSignal: signal };
      return step('config', instruction, { ...state, config: newConfig }, nopComment(newConfig, `STOPSIGNAL ${signal}`));
    }
    case 'EXPOSE': {
      const ports: string[] = [];
      for (const p of instruction.ports) {
        try {
          ports.push(...processWords(p, env, { escapeToken: state.escapeToken }));
        } catch (e) {
          throw evalError((e as Error).message, loc);
        }
      }
      let keys: string[];
      try {
        keys = exposedPortsOf(ports);
      } catch (e) {
        throw evalError((e as Error).message, loc);
      }
      const exposed: Record<string, object> = { ...(config.ExposedPorts ?? {}) };
      for (const k of keys) exposed[k] = {};
      const newConfig = { ...config, ExposedPorts: exposed };
      return step('config', instruction, { ...state, config: newConfig }, nopComment(newConfig, `EXPOSE ${ports.join(' ')}`));
    }
    case 'ARG': {
      const declared = new Map(state.declaredArgs);
      const parts: string[] = [];
      for (const a of instruction.args) {
        const key = word(a.key);
        const value = a.value === undefined ? undefined : word(a.value);
        parts.push(value === undefined ? key : `${key}=${value}`);
        declared.set(key, value);
      }
      return step('config', instruction, { ...state, declaredArgs: declared }, nopComment(config, `ARG ${parts.join(' ')}`));
    }
    case 'CMD': {
      const cmd = resolveCmdLine(instruction.command, config, false);
      const newConfig = { ...config, Cmd: cmd };
      const given = instruction.command.form === 'exec' ? instruction.command.args.length > 0 : instruction.command.text !== '';
      return step('config', instruction, { ...state, config: newConfig, cmdSet: state.cmdSet || given }, nopComment(newConfig, `CMD ${goQuoteList(cmd)}`));
    }
    case 'ENTRYPOINT': {
      const entrypoint = resolveCmdLine(instruction.command, config, true);
      const newConfig: RunConfig = { ...config, Entrypoint: entrypoint, ...(state.cmdSet ? {} : { Cmd: null }) };
      return step('config', instruction, { ...state, config: newConfig }, nopComment(newConfig, `ENTRYPOINT ${goQuoteList(entrypoint)}`));
    }
    case 'SHELL': {
      const newConfig = { ...config, Shell: [...instruction.shell] };
      return step('config', instruction, { ...state, config: newConfig }, nopComment(newConfig, `SHELL ${goList(instruction.shell)}`));
    }
    case 'HEALTHCHECK': {
      const notes: string[] = [];
      const old = config.Healthcheck?.Test;
      if (old !== undefined && old.length > 0 && old[0] !== 'NONE') notes.push(`Note: overriding previous HEALTHCHECK: ${goList(old)}`);
      const newConfig = { ...config, Healthcheck: healthConfig(instruction.health) };
      return step('config', instruction, { ...state, config: newConfig }, nopComment(newConfig, `HEALTHCHECK ${healthText(instruction.health)}`), notes);
    }
    case 'ONBUILD': {
      const newConfig = { ...config, OnBuild: [...(config.OnBuild ?? []), instruction.expression] };
      return step('config', instruction, { ...state, config: newConfig }, nopComment(newConfig, `ONBUILD ${instruction.expression}`));
    }
    case 'RUN':
      return evaluateRun(state, instruction);
    case 'COPY':
    case 'ADD':
      return evaluateCopy(state, instruction, word);
  }
}

function evaluateRun(state: StageState, instruction: RunInstruction): RunStep {
  const config = state.config;
  let args: string[] = instruction.command.form === 'exec' ? [...instruction.command.args] : instruction.command.text === '' ? [] : [instruction.command.text];
  let files: InlineFile[] = [];
  ({ args, files } = runHeredocs(instruction, args));
  const argv = instruction.command.form === 'exec' ? args : [...shellOf(config), ...args];
  const env = config.Env ?? [];
  const buildArgs = argsNotInEnv(state.args, state.declaredArgs, env);
  let saveCmd = argv;
  if (buildArgs.length > 0) {
    const kept = buildArgs.filter((kv) => isReferencedOrNotProxy(state.declaredArgs, envKey(kv)));
    saveCmd = [`|${kept.length}`, ...kept, ...argv];
  }
  const createdBy = saveCmd.join(' ');
  const extras: Record<string, unknown> = {};
  if (files.length > 0) extras.files = files;
  if (instruction.flagsUsed.length > 0) {
    extras.flags = { mounts: instruction.mounts, network: instruction.network, security: instruction.security, devices: instruction.devices };
  }
  return {
    kind: 'run',
    instruction,
    state,
    notes: [],
    createdBy,
    cacheKey: Object.keys(extras).length === 0 ? createdBy : `${createdBy}\n${JSON.stringify(extras)}`,
    run: {
      argv,
      env: [...env, ...buildArgs],
      user: config.User ?? '',
      workingDir: config.WorkingDir ?? '',
      files,
      flagsUsed: instruction.flagsUsed,
      mounts: instruction.mounts,
      network: instruction.network,
      security: instruction.security,
      devices: instruction.devices,
    },
  };
}

function evaluateCopy(state: StageState, instruction: CopyInstruction, word: (w: string) => string): CopyStep {
  const loc = instruction.location;
  const isAdd = instruction.keyword === 'ADD';
  const chown = instruction.chown === undefined ? undefined : word(instruction.chown);
  const chmodText = instruction.chmod === undefined ? undefined : word(instruction.chmod);
  const checksum = instruction.checksum === undefined ? undefined : word(instruction.checksum);
  const sources: CopySourcePath[] = instruction.sources.map((s) => {
    const p = word(s);
    if (isURL(p)) {
      if (!isAdd) throw evalError("source can't be a URL for COPY", loc);
      return { kind: 'url', url: p };
    }
    return { kind: 'path', path: p };
  });
  const destText = word(instruction.dest);
  const env = substitutionEnv(state);
  const inline = instruction.inline.map((h) => {
    const data = h.chomp ? chompHeredocContent(h.content) : h.content;
    if (!h.expand) return { name: h.name, content: data };
    try {
      return { name: h.name, content: processWord(data, env, { escapeToken: '\\', skipProcessQuotes: true }) };
    } catch (e) {
      throw evalError((e as Error).message, loc);
    }
  });
  const dest = normalizeDest(state.config.WorkingDir ?? '', destText);
  const destIsDir = dest.endsWith('/');
  if (sources.length + inline.length > 1 && !destIsDir) {
    throw evalError(`When using ${instruction.keyword} with more than one source file, the destination must be a directory and end with a /`, loc);
  }
  if (checksum !== undefined) {
    if (sources.length + inline.length !== 1) throw evalError("checksum can't be specified for multiple sources", loc);
    if (sources[0]?.kind !== 'url') throw evalError('checksum requires HTTP(S) or Git sources', loc);
  }
  return {
    kind: 'copy',
    instruction,
    state,
    notes: [],
    copy: {
      keyword: instruction.keyword,
      from: instruction.source,
      sources,
      inline,
      destText,
      dest,
      destIsDir,
      chown,
      chmod: chmodText === undefined ? undefined : parseChmod(chmodText, loc),
      link: instruction.link,
      exclude: instruction.exclude,
      parents: instruction.parents,
      checksum,
      keepGitDir: instruction.keepGitDir,
      unpack: instruction.unpack ?? isAdd,
      preserveOwnership: instruction.source.kind !== 'context' && chown === undefined,
    },
  };
}

/**
 * History text and cache key of a COPY/ADD once its sources' checksum is known. `sourceLabel`
 * is Docker's `file:<hex>` / `dir:<hex>` / `multi:<hex>` (see build/context's checksum).
 */
export function copyStepKeys(step: CopyStep, sourceLabel: string): { createdBy: string; cacheKey: string } {
  const c = step.copy;
  let flags = '';
  if (c.chown !== undefined) flags += `--chown=${c.chown} `;
  if (c.chmod !== undefined) flags += `--chmod=${c.chmod.toString(8).padStart(4, '0')} `;
  const createdBy = nopCommentString(step.state.config, `${c.keyword} ${flags}${sourceLabel} in ${c.destText} `);
  const extras = {
    from: c.from,
    dest: c.dest,
    inline: c.inline,
    exclude: c.exclude,
    parents: c.parents,
    unpack: c.unpack,
    checksum: c.checksum,
    keepGitDir: c.keepGitDir,
    preserveOwnership: c.preserveOwnership,
  };
  return { createdBy, cacheKey: `${createdBy}\n${JSON.stringify(extras)}` };
}
