// build/dockerfile: a Dockerfile's text becomes stages of typed instructions (parseDockerfile:
// lines, comments, continuations, `# escape=`, heredocs, JSON and shell forms, global ARGs, stage
// bases, --target and the stages it needs); then, while building, each stage is evaluated step
// by step (beginStage with the base image's config, evaluateInstruction for each instruction
// with the state the last step returned): variables substituted where Docker substitutes them,
// the config after the step, what the builder must do (commit, mkdir, run, copy), the history
// `created_by` text and the cache key text, as Docker's classic builder has them.

export { countSteps, parseDockerfile, parseTrigger, requiredStages, resolveCopyFrom, type ParseOptions } from './parse.ts';
export {
  beginStage,
  copyStepKeys,
  evaluateInstruction,
  normalizeDest,
  normalizeWorkdir,
  requiresBuildKit,
  substitutionEnv,
  DEFAULT_PATH,
  DEFAULT_SHELL,
  type ConfigStep,
  type CopySourcePath,
  type CopySpec,
  type CopyStep,
  type EvaluatedStep,
  type HealthcheckConfig,
  type InlineFile,
  type RunConfig,
  type RunSpec,
  type RunStep,
  type StageState,
  type WorkdirStep,
} from './evaluate.ts';
export { PROXY_ARGS } from './args.ts';
export { processWord, processWords, envLookupOf, type EnvLookup } from './lex.ts';
export { DockerfileError, type SourceLocation } from './errors.ts';
export type * from './types.ts';
