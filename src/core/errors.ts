// Errors: one EngineError with a kind. The kind -> HTTP status and kind -> CLI exit code
// mappings each live in exactly one table (api/errors.ts, cli/exit-codes.ts).

export type ErrorKind =
  | 'invalid-parameter'
  | 'not-found'
  | 'conflict'
  | 'not-modified'
  | 'unauthorized'
  | 'forbidden'
  | 'unavailable'
  | 'not-implemented'
  | 'cannot-execute'
  | 'command-not-found'
  | 'system';

export class EngineError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  constructor(kind: ErrorKind, message: string, options?: { code?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EngineError';
    this.kind = kind;
    this.code = options?.code ?? kind;
  }
}

export const invalid = (message: string, code?: string) => new EngineError('invalid-parameter', message, { code });
export const notFound = (message: string, code?: string) => new EngineError('not-found', message, { code });
export const conflict = (message: string, code?: string) => new EngineError('conflict', message, { code });
export const systemError = (message: string, cause?: unknown) => new EngineError('system', message, { cause });

export function isEngineError(e: unknown, kind?: ErrorKind): e is EngineError {
  return e instanceof EngineError && (kind === undefined || e.kind === kind);
}

/** errno code of a Node system error, if any (never decide by message text). */
export function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string'
    ? (e as { code: string }).code
    : undefined;
}
