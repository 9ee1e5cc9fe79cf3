// The one table from error kinds to CLI exit codes (Docker's: 125 engine error, 126 cannot
// execute, 127 command not found).
import type { ErrorKind } from '../core/errors.ts';

const CODES: Partial<Record<ErrorKind, number>> = {
  'cannot-execute': 126,
  'command-not-found': 127,
};

export function exitCodeOf(kind: ErrorKind | undefined): number {
  return (kind && CODES[kind]) ?? 125;
}

/** Thrown by commands to exit with a status after printing nothing more. */
export class ExitStatus extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
