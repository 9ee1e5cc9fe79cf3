// Dockerfile errors: an EngineError (kind invalid-parameter) that also carries where in which
// file it happened. Messages read like Docker's: parse errors are "dockerfile parse error on
// line N: …" (BuildKit's wording, which the classic builder also uses now); errors found while
// evaluating an instruction keep Docker's own text (`failed to process "${A": syntax error:
// missing '}'`) and carry the location beside it.

import { EngineError } from '../../core/errors.ts';

export interface SourceLocation {
  /** The Dockerfile's name as given (`Dockerfile`, `build/Dockerfile.dev`). */
  readonly file: string;
  /** 1-based, inclusive. */
  readonly startLine: number;
  readonly endLine: number;
}

export class DockerfileError extends EngineError {
  readonly location: SourceLocation | undefined;
  constructor(message: string, location: SourceLocation | undefined, code = 'dockerfile-invalid') {
    super('invalid-parameter', message, { code });
    this.name = 'DockerfileError';
    this.location = location;
  }
}

/** A syntax error: "dockerfile parse error on line N: message". */
export function parseError(message: string, location: SourceLocation): DockerfileError {
  return new DockerfileError(`dockerfile parse error on line ${location.startLine}: ${message}`, location, 'dockerfile-parse');
}

/** An error found while evaluating an instruction: Docker's message, plus where. */
export function evalError(message: string, location: SourceLocation | undefined): DockerfileError {
  return new DockerfileError(message, location, 'dockerfile-invalid');
}
