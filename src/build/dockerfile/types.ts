// The typed Dockerfile: stages, each a FROM and its instructions, each instruction with the
// lines it spans and its arguments as written (variables not yet substituted: that happens step
// by step in evaluate.ts, with the environment of that point of the build).

import type { SourceLocation } from './errors.ts';

export type { SourceLocation };

/** Exec form (`["a", "b"]`) or shell form (the text, to be run by SHELL). */
export type CommandLine =
  | { readonly form: 'exec'; readonly args: readonly string[] }
  | { readonly form: 'shell'; readonly text: string };

export interface HeredocFile {
  /** The terminator word: the file name for COPY/ADD. */
  readonly name: string;
  /** The content as written, each line with its line ending (for `<<-`, tabs not yet removed: see `chomp`). */
  readonly content: string;
  /** Variables are substituted in the content (the terminator was not quoted). */
  readonly expand: boolean;
  /** `<<-`: leading tabs are to be removed from each line of the content. */
  readonly chomp: boolean;
  readonly fileDescriptor: number;
}

interface Base<K extends Keyword> {
  readonly keyword: K;
  /** The instruction name as written (`run`, `Run`). */
  readonly name: string;
  /** The instruction's logical line, trimmed: what `Step N/M : …` shows. */
  readonly original: string;
  readonly location: SourceLocation;
}

export interface RunInstruction extends Base<'RUN'> {
  readonly command: CommandLine;
  readonly heredocs: readonly HeredocFile[];
  /** `--mount` values (BuildKit's; the classic builder refuses them). */
  readonly mounts: readonly string[];
  readonly network: string | undefined;
  readonly security: string | undefined;
  readonly devices: readonly string[];
  /** Names of the flags given, in order. */
  readonly flagsUsed: readonly string[];
}

export interface CmdInstruction extends Base<'CMD'> {
  readonly command: CommandLine;
}

export interface EntrypointInstruction extends Base<'ENTRYPOINT'> {
  /** `ENTRYPOINT []` is exec form with no arguments (it clears the entrypoint). */
  readonly command: CommandLine;
}

export interface ShellInstruction extends Base<'SHELL'> {
  readonly shell: readonly string[];
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

export interface EnvInstruction extends Base<'ENV'> {
  readonly pairs: readonly KeyValue[];
}

export interface LabelInstruction extends Base<'LABEL'> {
  readonly pairs: readonly KeyValue[];
  /** Labels from `--label`: used as given, no substitution. */
  readonly noExpand: boolean;
}

export interface ArgDeclaration {
  readonly key: string;
  /** The default as written; undefined for `ARG NAME`. */
  readonly value: string | undefined;
}

export interface ArgInstruction extends Base<'ARG'> {
  readonly args: readonly ArgDeclaration[];
}

export interface ExposeInstruction extends Base<'EXPOSE'> {
  /** As written, sorted as Docker sorts them (before substitution). */
  readonly ports: readonly string[];
}

export interface UserInstruction extends Base<'USER'> {
  readonly user: string;
}

export interface WorkdirInstruction extends Base<'WORKDIR'> {
  readonly path: string;
}

export interface VolumeInstruction extends Base<'VOLUME'> {
  readonly volumes: readonly string[];
}

export interface StopsignalInstruction extends Base<'STOPSIGNAL'> {
  readonly signal: string;
}

export interface HealthConfig {
  /** `["NONE"]`, `["CMD", ...args]` or `["CMD-SHELL", text]`. */
  readonly test: readonly string[];
  /** Nanoseconds; 0 means inherit. */
  readonly interval: number;
  readonly timeout: number;
  readonly startPeriod: number;
  readonly startInterval: number;
  readonly retries: number;
}

export interface HealthcheckInstruction extends Base<'HEALTHCHECK'> {
  readonly health: HealthConfig;
}

export interface OnbuildInstruction extends Base<'ONBUILD'> {
  /** The trigger as text (what the image config's OnBuild stores), heredocs included. */
  readonly expression: string;
  /** The trigger's instruction keyword, upper case. */
  readonly trigger: string;
}

export interface MaintainerInstruction extends Base<'MAINTAINER'> {
  readonly maintainer: string;
}

/** Where COPY --from takes its files. */
export type CopySource =
  | { readonly kind: 'context' }
  | { readonly kind: 'stage'; readonly index: number }
  | { readonly kind: 'image'; readonly ref: string };

export interface CopyInstruction extends Base<'COPY' | 'ADD'> {
  /** Source paths (or URLs for ADD) as written. */
  readonly sources: readonly string[];
  /** Heredoc sources (`COPY <<EOF /dest`). */
  readonly inline: readonly HeredocFile[];
  readonly dest: string;
  /** `--from` as written (COPY only). */
  readonly from: string | undefined;
  /** `--from` resolved against the stages (context when not given). */
  readonly source: CopySource;
  readonly chown: string | undefined;
  readonly chmod: string | undefined;
  /** `--link`: accepted and ignored (layers are always rebased here). */
  readonly link: boolean;
  readonly exclude: readonly string[];
  readonly parents: boolean;
  /** ADD only. */
  readonly checksum: string | undefined;
  readonly keepGitDir: boolean | undefined;
  readonly unpack: boolean | undefined;
}

export type Instruction =
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | EnvInstruction
  | LabelInstruction
  | ArgInstruction
  | ExposeInstruction
  | UserInstruction
  | WorkdirInstruction
  | VolumeInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | MaintainerInstruction
  | CopyInstruction;

export type Keyword =
  | 'RUN'
  | 'CMD'
  | 'ENTRYPOINT'
  | 'SHELL'
  | 'ENV'
  | 'LABEL'
  | 'ARG'
  | 'EXPOSE'
  | 'USER'
  | 'WORKDIR'
  | 'VOLUME'
  | 'STOPSIGNAL'
  | 'HEALTHCHECK'
  | 'ONBUILD'
  | 'MAINTAINER'
  | 'COPY'
  | 'ADD';

/** What a stage starts from, with variables substituted. */
export type StageBase =
  | { readonly kind: 'scratch' }
  | { readonly kind: 'stage'; readonly index: number }
  | { readonly kind: 'image'; readonly ref: string };

export interface Stage {
  readonly index: number;
  /** `AS name`, lower-cased as Docker does; undefined when unnamed. */
  readonly name: string | undefined;
  /** The FROM line's image or stage as written (`alpine:$VERSION`). */
  readonly baseName: string;
  /** `--platform` as written. */
  readonly platformText: string | undefined;
  /** The base with the global ARGs substituted. */
  readonly base: StageBase;
  /** `--platform` with the global ARGs substituted. */
  readonly platform: string | undefined;
  /** The FROM line: what `Step N/M : …` shows. */
  readonly original: string;
  readonly location: SourceLocation;
  readonly instructions: readonly Instruction[];
  /** Stages this one needs (its base, COPY --from), ascending. */
  readonly dependencies: readonly number[];
}

export interface Dockerfile {
  readonly file: string;
  readonly escapeToken: '\\' | '`';
  /** The `# syntax=` directive, if any (recorded, not acted on). */
  readonly syntax: string | undefined;
  readonly warnings: readonly string[];
  /** ARGs before the first FROM, in order. */
  readonly metaArgs: readonly ArgInstruction[];
  readonly stages: readonly Stage[];
  /** The stage to build (`--target`, else the last). */
  readonly target: number;
  /** The stages the target needs, itself included, ascending (what BuildKit builds). */
  readonly requiredStages: readonly number[];
  /** The global ARG values (meta ARGs with --build-arg applied), for FROM and for stages that redeclare them. */
  readonly globalArgs: ReadonlyMap<string, string | undefined>;
  /** --build-arg values. */
  readonly buildArgs: Readonly<Record<string, string>>;
}
