// parseDockerfile: text -> stages with typed instructions, global ARGs evaluated with the build
// args, each stage's base resolved (image, earlier stage or scratch), COPY --from resolved, the
// target chosen and the stages it needs computed.

import { allowedArgValues, globalArgValues, type ArgContext } from './args.ts';
import { DockerfileError, evalError, parseError, type SourceLocation } from './errors.ts';
import { InstructionError, typeNode, type FromLine } from './instructions.ts';
import { noEnv, processWord, type EnvLookup } from './lex.ts';
import { ScanError, scanDockerfile, type Node } from './scanner.ts';
import type { ArgInstruction, CopyInstruction, CopySource, Dockerfile, Instruction, LabelInstruction, Stage, StageBase } from './types.ts';
import { suggestion } from './go-compat.ts';

export interface ParseOptions {
  /** The Dockerfile's name, for error locations (default `Dockerfile`). */
  readonly file?: string;
  /** --build-arg values. */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** --target: the stage to build (default: the last). */
  readonly target?: string;
  /** --label values: appended to the target stage as LABEL instructions, as the classic builder does. */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * BuildKit's automatic platform ARGs (TARGETPLATFORM, BUILDPLATFORM, TARGETOS, …): usable in
   * FROM lines without declaration, and in a stage after `ARG NAME`. The classic builder has
   * none; pass them to accept Dockerfiles written for BuildKit.
   */
  readonly platformArgs?: Readonly<Record<string, string>>;
}

function mapLookup(values: ReadonlyMap<string, string>): EnvLookup {
  return (name) => values.get(name);
}

function locationOf(file: string, node: { startLine: number; endLine: number }): SourceLocation {
  return { file, startLine: node.startLine, endLine: node.endLine };
}

/** Substitute one word, turning a lexer error into a located Docker message. */
export function expandWord(word: string, env: EnvLookup, escapeToken: string, location: SourceLocation | undefined): string {
  try {
    return processWord(word, env, { escapeToken });
  } catch (e) {
    throw evalError((e as Error).message, location);
  }
}

/** Evaluate the global ARGs in order (each can use the ones before it). */
function evaluateMetaArgs(metaArgs: readonly ArgInstruction[], buildArgs: Readonly<Record<string, string>>, platformArgs: Readonly<Record<string, string>>, escapeToken: string): Map<string, string | undefined> {
  const meta = new Map<string, string | undefined>(Object.entries(platformArgs));
  for (const instr of metaArgs) {
    const ctx: ArgContext = { meta, buildArgs };
    const env = mapLookup(allowedArgValues(ctx, meta));
    const evaluated = instr.args.map((a) => ({
      key: expandWord(a.key, env, escapeToken, instr.location),
      value: a.value === undefined ? undefined : expandWord(a.value, env, escapeToken, instr.location),
    }));
    for (const a of evaluated) meta.set(a.key, a.value);
  }
  return meta;
}

function findStage(stages: readonly { name: string | undefined }[], name: string): number {
  const lower = name.toLowerCase();
  return stages.findIndex((s) => s.name !== undefined && s.name === lower);
}

/** Resolve `COPY --from=<name|index>` of stage `current`. */
export function resolveCopyFrom(stages: readonly { name: string | undefined }[], current: number, from: string, location: SourceLocation): CopySource {
  let literal: string;
  try {
    literal = processWord(from, noEnv);
  } catch (e) {
    throw evalError((e as Error).message, location);
  }
  if (literal !== from) {
    throw evalError('variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround', location);
  }
  const named = findStage(stages, from);
  if (named !== -1) {
    if (named >= current) {
      const here = stages[current]?.name ?? `stage-${current}`;
      throw evalError(`cannot copy from stage ${JSON.stringify(from)}, it needs to be defined before current stage ${JSON.stringify(here)}`, location);
    }
    return { kind: 'stage', index: named };
  }
  if (/^[+-]?\d+$/.test(from)) {
    const index = Number(from);
    if (index === current) throw evalError(`invalid from flag value ${from}: refers to current build stage`, location);
    if (index < 0 || index > current) throw evalError(`invalid from flag value ${from}: index out of bounds`, location);
    return { kind: 'stage', index };
  }
  return { kind: 'image', ref: from };
}

function labelInstruction(key: string, value: string, location: SourceLocation): LabelInstruction {
  return { keyword: 'LABEL', name: 'label', original: `LABEL ${key}=${value}`, location, pairs: [{ key, value }], noExpand: true };
}

interface RawStage {
  readonly from: FromLine;
  readonly instructions: Instruction[];
}

/**
 * Parse a Dockerfile. Throws a DockerfileError (kind invalid-parameter) whose message reads
 * like Docker's and whose `location` says where.
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): Dockerfile {
  const file = options.file ?? 'Dockerfile';
  const buildArgs = options.buildArgs ?? {};
  if (text.length === 0) throw new DockerfileError(`the Dockerfile (${file}) cannot be empty`, undefined);

  let scanned;
  try {
    scanned = scanDockerfile(text);
  } catch (e) {
    if (e instanceof ScanError) throw parseError(e.message, { file, startLine: e.startLine, endLine: e.endLine });
    throw e;
  }
  const escapeToken = scanned.escapeToken;

  const metaArgs: ArgInstruction[] = [];
  const raw: RawStage[] = [];
  for (const node of scanned.nodes) {
    const location = locationOf(file, node);
    const typed = typeInstruction(node, location);
    if (typed.keyword === 'FROM') {
      raw.push({ from: typed, instructions: [] });
      continue;
    }
    const current = raw[raw.length - 1];
    if (current === undefined) {
      if (typed.keyword === 'ARG') {
        metaArgs.push(typed);
        continue;
      }
      throw parseError('no build stage in current context', location);
    }
    current.instructions.push(typed);
  }
  if (raw.length === 0) throw evalError('dockerfile contains no stages to build', { file, startLine: 1, endLine: scanned.lines });

  const meta = evaluateMetaArgs(metaArgs, buildArgs, options.platformArgs ?? {}, escapeToken);
  const globals = mapLookup(globalArgValues({ meta, buildArgs }));

  // Stage names, bases and platforms.
  const named: { name: string | undefined }[] = [];
  const heads: { base: StageBase; platform: string | undefined }[] = [];
  raw.forEach((s, index) => {
    const loc = s.from.location;
    if (s.from.name !== undefined && findStage(named, s.from.name) !== -1) {
      throw parseError(`${s.from.name} stage name already used`, loc);
    }
    const baseName = expandWord(s.from.baseName, globals, escapeToken, loc);
    if (baseName === '') throw evalError(`base name (${s.from.baseName}) should not be blank`, loc);
    let platform: string | undefined;
    if (s.from.platform !== undefined) {
      platform = expandWord(s.from.platform, globals, escapeToken, loc);
      if (platform === '') throw evalError(`empty platform value from expression ${s.from.platform}`, loc);
    }
    let base: StageBase;
    const earlier = findStage(named, baseName);
    if (baseName === 'scratch') base = { kind: 'scratch' };
    else if (earlier !== -1) base = { kind: 'stage', index: earlier };
    else base = { kind: 'image', ref: baseName };
    heads.push({ base, platform });
    named[index] = { name: s.from.name };
  });
  const allNamed = raw.map((s) => ({ name: s.from.name }));

  // Target.
  let target = raw.length - 1;
  if (options.target !== undefined && options.target !== '') {
    const t = raw.findIndex((s) => s.from.name !== undefined && s.from.name.toLowerCase() === options.target!.toLowerCase());
    if (t === -1) {
      const names = raw.flatMap((s) => (s.from.name === undefined ? [] : [s.from.name]));
      throw new DockerfileError(`target stage ${JSON.stringify(options.target)} could not be found${suggestion(options.target, names, true)}`, undefined, 'dockerfile-target');
    }
    target = t;
  }

  // --label: LABEL instructions at the end of the target stage.
  const labelKeys = Object.keys(options.labels ?? {}).sort();
  if (labelKeys.length > 0) {
    const t = raw[target]!;
    const last = t.instructions[t.instructions.length - 1]?.location ?? t.from.location;
    for (const k of labelKeys) t.instructions.push(labelInstruction(k, options.labels![k]!, last));
  }

  const stages: Stage[] = raw.map((s, index) => {
    const deps = new Set<number>();
    const head = heads[index]!;
    if (head.base.kind === 'stage') deps.add(head.base.index);
    const instructions = s.instructions.map((instr): Instruction => {
      if ((instr.keyword !== 'COPY' && instr.keyword !== 'ADD') || instr.from === undefined) return instr;
      const source = resolveCopyFrom(allNamed, index, instr.from, instr.location);
      if (source.kind === 'stage') deps.add(source.index);
      return { ...instr, source } satisfies CopyInstruction;
    });
    return {
      index,
      name: s.from.name,
      baseName: s.from.baseName,
      platformText: s.from.platform,
      base: head.base,
      platform: head.platform,
      original: s.from.original,
      location: s.from.location,
      instructions,
      dependencies: [...deps].sort((a, b) => a - b),
    };
  });

  return {
    file,
    escapeToken,
    syntax: scanned.directives.find((d) => d.name === 'syntax')?.value,
    warnings: scanned.warnings,
    metaArgs,
    stages,
    target,
    requiredStages: requiredStages(stages, target),
    globalArgs: meta,
    buildArgs: { ...buildArgs },
  };
}

function typeInstruction(node: Node, location: SourceLocation): Instruction | FromLine {
  try {
    return typeNode(node, location);
  } catch (e) {
    if (e instanceof InstructionError) throw parseError(e.message, location);
    throw e;
  }
}

/**
 * The stages `target` needs, itself included, ascending. Every reference points to an earlier
 * stage (later or own names are refused when parsing), so the walk cannot loop; a cycle in a
 * hand-made stage list is reported all the same.
 */
export function requiredStages(stages: readonly Pick<Stage, 'index' | 'name' | 'dependencies'>[], target: number): number[] {
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (i: number, path: number[]): void => {
    const s = state.get(i);
    if (s === 'done') return;
    if (s === 'visiting') {
      const names = [...path.slice(path.indexOf(i)), i].map((n) => stages[n]?.name ?? `stage-${n}`);
      throw evalError(`circular dependency detected on stage: ${names.join(' -> ')}`, undefined);
    }
    const stage = stages[i];
    if (stage === undefined) throw evalError(`invalid stage index ${i}`, undefined);
    state.set(i, 'visiting');
    for (const d of stage.dependencies) visit(d, [...path, i]);
    state.set(i, 'done');
  };
  visit(target, []);
  return [...state.keys()].sort((a, b) => a - b);
}

/**
 * The classic builder's `Step N/M` total when building `stages` (it builds every stage up to the
 * target: pass `[0..target]`; a builder that skips unneeded stages passes requiredStages): the
 * global ARGs, one FROM per stage and every instruction.
 */
export function countSteps(dockerfile: Pick<Dockerfile, 'metaArgs' | 'stages'>, stages: readonly number[]): number {
  return dockerfile.metaArgs.length + stages.reduce((n, i) => n + 1 + (dockerfile.stages[i]?.instructions.length ?? 0), 0);
}

/**
 * Parse an ONBUILD trigger (the text an image's OnBuild holds) as the single instruction it is.
 * `stage` resolves a COPY --from in it.
 */
export function parseTrigger(expression: string, stage?: { readonly stages: readonly { name: string | undefined }[]; readonly index: number }): Instruction {
  const file = 'ONBUILD';
  let scanned;
  try {
    scanned = scanDockerfile(expression);
  } catch (e) {
    if (e instanceof ScanError) throw parseError(e.message, { file, startLine: e.startLine, endLine: e.endLine });
    throw e;
  }
  if (scanned.nodes.length !== 1) throw evalError('onbuild trigger should be a single expression', undefined);
  const node = scanned.nodes[0]!;
  const location = locationOf(file, node);
  const typed = typeInstruction(node, location);
  if (typed.keyword === 'FROM') throw evalError("FROM isn't allowed as an ONBUILD trigger", location);
  if ((typed.keyword === 'COPY' || typed.keyword === 'ADD') && typed.from !== undefined && stage !== undefined) {
    return { ...typed, source: resolveCopyFrom(stage.stages, stage.index, typed.from, location) };
  }
  if ((typed.keyword === 'COPY' || typed.keyword === 'ADD') && typed.from !== undefined) {
    return { ...typed, source: { kind: 'image', ref: typed.from } };
  }
  return typed;
}
