// Scanner nodes -> typed instructions, with Docker's checks and messages (a port of BuildKit's
// frontend/dockerfile/instructions/parse.go and bflag.go): argument counts, `--flags` each
// instruction accepts, stage names, HEALTHCHECK options, heredocs as COPY sources.

import { formatGoDuration, parseGoDuration, suggestion, trimGoSpace } from './go-compat.ts';
import { parseHeredoc, type Node } from './scanner.ts';
import type { SourceLocation } from './errors.ts';
import type { CommandLine, HeredocFile, Instruction, KeyValue } from './types.ts';

/** An instruction error; the caller turns it into "dockerfile parse error on line N: …". */
export class InstructionError extends Error {}

const INSTRUCTION_NAMES = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
];

type FlagType = 'bool' | 'string' | 'strings';

/** `--flag` parsing with Docker's rules and messages (BuildKit's BFlags). */
class Flags {
  private readonly defs = new Map<string, FlagType>();
  private readonly values = new Map<string, string>();
  private readonly lists = new Map<string, string[]>();
  readonly used: string[] = [];

  constructor(private readonly args: readonly string[]) {}

  add(name: string, type: FlagType): this {
    this.defs.set(name, type);
    return this;
  }

  parse(): void {
    for (const a of this.args) {
      if (a === '--') return;
      if (!a.startsWith('--')) throw new InstructionError(`arg should start with -- : ${a}`);
      const eq = a.indexOf('=');
      const flagName = eq === -1 ? a : a.slice(0, eq);
      const value = eq === -1 ? '' : a.slice(eq + 1);
      const hasValue = eq !== -1;
      const arg = flagName.slice(2);
      const type = this.defs.get(arg);
      if (type === undefined) throw new InstructionError(`unknown flag: ${flagName}${suggestion(arg, [...this.defs.keys()], true)}`);
      if (this.used.includes(arg) && type !== 'strings') throw new InstructionError(`duplicate flag specified: ${flagName}`);
      this.used.push(arg);
      switch (type) {
        case 'bool':
          if (hasValue && value === '') throw new InstructionError(`missing a value on flag: ${flagName}`);
          switch (value.toLowerCase()) {
            case 'true':
            case '':
              this.values.set(arg, 'true');
              break;
            case 'false':
              this.values.set(arg, 'false');
              break;
            default:
              throw new InstructionError(`expecting boolean value for flag ${flagName}, not: ${value}`);
          }
          break;
        case 'string':
          if (!hasValue) throw new InstructionError(`missing a value on flag: ${flagName}`);
          this.values.set(arg, value);
          break;
        case 'strings':
          if (!hasValue) throw new InstructionError(`missing a value on flag: ${flagName}`);
          this.lists.set(arg, [...(this.lists.get(arg) ?? []), value]);
          break;
      }
    }
  }

  string(name: string): string | undefined {
    const v = this.values.get(name);
    return v === undefined || v === '' ? undefined : v;
  }
  bool(name: string): boolean {
    return this.values.get(name) === 'true';
  }
  optionalBool(name: string): boolean | undefined {
    return this.used.includes(name) ? this.values.get(name) === 'true' : undefined;
  }
  strings(name: string): string[] {
    return this.lists.get(name) ?? [];
  }
}

/** The FROM line of a stage. */
export interface FromLine {
  readonly keyword: 'FROM';
  readonly baseName: string;
  readonly name: string | undefined;
  readonly platform: string | undefined;
  readonly original: string;
  readonly location: SourceLocation;
}

function commandLine(args: readonly string[], json: boolean, emptyAsNil: boolean): CommandLine {
  if (json) return { form: 'exec', args: [...args] };
  if (args.length === 0) return emptyAsNil ? { form: 'exec', args: [] } : { form: 'shell', text: '' };
  return { form: 'shell', text: args.join(' ') };
}

function heredocFiles(node: Node): HeredocFile[] {
  return node.heredocs.map((h) => ({
    name: h.name,
    content: h.content,
    expand: h.expand,
    chomp: h.chomp,
    fileDescriptor: h.fileDescriptor,
  }));
}

function keyValues(args: readonly string[], cmd: string): KeyValue[] {
  if (args.length === 0) throw new InstructionError(`${cmd} requires at least one argument`);
  if (args.length % 3 !== 0) throw new InstructionError(`Bad input to ${cmd}, too many arguments`);
  const out: KeyValue[] = [];
  for (let j = 0; j < args.length; j += 3) {
    if (args[j]!.length === 0) throw new InstructionError(`${cmd} names can not be blank`);
    out.push({ key: args[j]!, value: args[j + 1]! });
  }
  return out;
}

function parseInterval(flag: string, value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  let d: number;
  try {
    d = parseGoDuration(value);
  } catch (e) {
    throw new InstructionError((e as Error).message);
  }
  if (d === 0) return 0;
  if (d < 1_000_000) throw new InstructionError(`Interval ${JSON.stringify(flag)} cannot be less than ${formatGoDuration(1_000_000)}`);
  return d;
}

const VALID_STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/**
 * Type one node. `location` is where the node is; ONBUILD's sub-instruction is not typed here
 * (Docker keeps it as text and parses it when the trigger runs).
 */
export function typeNode(node: Node, location: SourceLocation): Instruction | FromLine {
  const args = node.args;
  const flags = new Flags(node.flags);
  const original = trimGoSpace(node.original);
  const base = { name: node.value, original, location };
  const lower = node.value.toLowerCase();
  switch (lower) {
    case 'env': {
      flags.parse();
      return { ...base, keyword: 'ENV', pairs: keyValues(args, 'ENV') };
    }
    case 'maintainer': {
      if (args.length !== 1) throw new InstructionError('MAINTAINER requires exactly one argument');
      flags.parse();
      return { ...base, keyword: 'MAINTAINER', maintainer: args[0]! };
    }
    case 'label': {
      flags.parse();
      return { ...base, keyword: 'LABEL', pairs: keyValues(args, 'LABEL'), noExpand: false };
    }
    case 'add':
    case 'copy': {
      const keyword = lower === 'add' ? 'ADD' : 'COPY';
      if (args.length < 2) throw new InstructionError(`${keyword} requires at least two arguments, but only one was provided. Destination could not be determined`);
      flags.add('chown', 'string').add('chmod', 'string').add('link', 'bool').add('exclude', 'strings');
      if (keyword === 'ADD') flags.add('keep-git-dir', 'bool').add('checksum', 'string').add('unpack', 'bool');
      else flags.add('from', 'string').add('parents', 'bool');
      flags.parse();
      const dest = args[args.length - 1]!;
      if (parseHeredoc(dest) !== undefined) throw new InstructionError(`${keyword} cannot accept a heredoc as a destination`);
      const byName = new Map(heredocFiles(node).map((h) => [h.name, h]));
      const sources: string[] = [];
      const inline: HeredocFile[] = [];
      for (const src of args.slice(0, -1)) {
        const h = parseHeredoc(src);
        if (h === undefined) {
          sources.push(src);
          continue;
        }
        const found = byName.get(h.name);
        inline.push(found ?? { name: h.name, content: '', expand: h.expand, chomp: h.chomp, fileDescriptor: h.fileDescriptor });
      }
      return {
        ...base,
        keyword,
        sources,
        inline,
        dest,
        from: flags.string('from'),
        source: { kind: 'context' },
        chown: flags.string('chown'),
        chmod: flags.string('chmod'),
        link: flags.bool('link'),
        exclude: flags.strings('exclude'),
        parents: flags.bool('parents'),
        checksum: flags.string('checksum'),
        keepGitDir: flags.optionalBool('keep-git-dir'),
        unpack: flags.optionalBool('unpack'),
      };
    }
    case 'from': {
      let name: string | undefined;
      if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
        name = args[2]!.toLowerCase();
        if (!VALID_STAGE_NAME.test(name)) {
          throw new InstructionError(`invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`);
        }
      } else if (args.length !== 1) {
        throw new InstructionError('FROM requires either one or three arguments');
      }
      flags.add('platform', 'string');
      flags.parse();
      return { keyword: 'FROM', baseName: args[0]!, name, platform: flags.string('platform'), original, location };
    }
    case 'onbuild': {
      if (args.length === 0) throw new InstructionError('ONBUILD requires at least one argument');
      flags.parse();
      const trigger = trimGoSpace(args[0]!).toUpperCase();
      if (trigger === 'ONBUILD') throw new InstructionError('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (trigger === 'MAINTAINER' || trigger === 'FROM') throw new InstructionError(`${trigger} isn't allowed as an ONBUILD trigger`);
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, '');
      for (const h of node.heredocs) expression += `\n${h.content}${h.name}`;
      return { ...base, keyword: 'ONBUILD', expression, trigger };
    }
    case 'workdir': {
      if (args.length !== 1) throw new InstructionError('WORKDIR requires exactly one argument');
      flags.parse();
      return { ...base, keyword: 'WORKDIR', path: args[0]! };
    }
    case 'run': {
      flags.add('mount', 'strings').add('network', 'string').add('security', 'string').add('device', 'strings');
      flags.parse();
      return {
        ...base,
        keyword: 'RUN',
        command: commandLine(args, node.json, false),
        heredocs: heredocFiles(node),
        mounts: flags.strings('mount'),
        network: flags.string('network'),
        security: flags.string('security'),
        devices: flags.strings('device'),
        flagsUsed: [...flags.used],
      };
    }
    case 'cmd': {
      flags.parse();
      return { ...base, keyword: 'CMD', command: commandLine(args, node.json, false) };
    }
    case 'entrypoint': {
      flags.parse();
      return { ...base, keyword: 'ENTRYPOINT', command: commandLine(args, node.json, true) };
    }
    case 'healthcheck': {
      if (args.length === 0) throw new InstructionError('HEALTHCHECK requires at least one argument');
      const typ = args[0]!.toUpperCase();
      const rest = args.slice(1);
      if (typ === 'NONE') {
        if (rest.length !== 0) throw new InstructionError('HEALTHCHECK NONE takes no arguments');
        return { ...base, keyword: 'HEALTHCHECK', health: { test: ['NONE'], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 } };
      }
      flags.add('interval', 'string').add('timeout', 'string').add('start-period', 'string').add('start-interval', 'string').add('retries', 'string');
      flags.parse();
      if (typ !== 'CMD') throw new InstructionError(`Unknown type ${JSON.stringify(typ)} in HEALTHCHECK (try CMD)`);
      const cmd = node.json ? rest : rest.length === 0 ? [] : [rest.join(' ')];
      if (cmd.length === 0) throw new InstructionError('Missing command after HEALTHCHECK CMD');
      const test = [node.json ? 'CMD' : 'CMD-SHELL', ...cmd];
      const interval = parseInterval('interval', flags.string('interval'));
      const timeout = parseInterval('timeout', flags.string('timeout'));
      const startPeriod = parseInterval('start-period', flags.string('start-period'));
      const startInterval = parseInterval('start-interval', flags.string('start-interval'));
      let retries = 0;
      const r = flags.string('retries');
      if (r !== undefined) {
        if (!/^[+-]?\d+$/.test(r) || Math.abs(Number(r)) > 2 ** 31 - 1) {
          throw new InstructionError(`strconv.ParseInt: parsing ${JSON.stringify(r)}: ${/^[+-]?\d+$/.test(r) ? 'value out of range' : 'invalid syntax'}`);
        }
        retries = Number(r);
        if (retries < 0) throw new InstructionError(`--retries cannot be negative (${retries})`);
      }
      return { ...base, keyword: 'HEALTHCHECK', health: { test, interval, timeout, startPeriod, startInterval, retries } };
    }
    case 'expose': {
      if (args.length === 0) throw new InstructionError('EXPOSE requires at least one argument');
      flags.parse();
      return { ...base, keyword: 'EXPOSE', ports: [...args].sort() };
    }
    case 'user': {
      if (args.length !== 1) throw new InstructionError('USER requires exactly one argument');
      flags.parse();
      return { ...base, keyword: 'USER', user: args[0]! };
    }
    case 'volume': {
      if (args.length === 0) throw new InstructionError('VOLUME requires at least one argument');
      flags.parse();
      const volumes: string[] = [];
      for (const v of args) {
        const t = trimGoSpace(v);
        if (t === '') throw new InstructionError('VOLUME specified can not be an empty string');
        volumes.push(t);
      }
      return { ...base, keyword: 'VOLUME', volumes };
    }
    case 'stopsignal': {
      if (args.length !== 1) throw new InstructionError('STOPSIGNAL requires exactly one argument');
      return { ...base, keyword: 'STOPSIGNAL', signal: args[0]! };
    }
    case 'arg': {
      if (args.length < 1) throw new InstructionError('ARG requires at least one argument');
      const decls = args.map((a) => {
        const i = a.indexOf('=');
        if (i === -1) return { key: a, value: undefined };
        if (i === 0) throw new InstructionError('ARG names can not be blank');
        return { key: a.slice(0, i), value: a.slice(i + 1) };
      });
      return { ...base, keyword: 'ARG', args: decls };
    }
    case 'shell': {
      flags.parse();
      if (args.length === 0) throw new InstructionError('SHELL requires at least one argument');
      if (!node.json) throw new InstructionError(`SHELL requires the arguments to be in JSON form`);
      return { ...base, keyword: 'SHELL', shell: [...args] };
    }
    default:
      throw new InstructionError(`unknown instruction: ${node.value}${suggestion(node.value, INSTRUCTION_NAMES, false)}`);
  }
}
