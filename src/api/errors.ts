// The one table mapping error kinds to HTTP statuses.
import { type ErrorKind, EngineError } from '../core/errors.ts';

const STATUS: Record<ErrorKind, number> = {
  'invalid-parameter': 400,
  'cannot-execute': 400,
  'command-not-found': 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'not-modified': 304,
  'not-implemented': 501,
  unavailable: 503,
  system: 500,
};

export function statusOf(e: unknown): number {
  return e instanceof EngineError ? STATUS[e.kind] : 500;
}
