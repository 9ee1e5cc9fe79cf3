// Registry replies and network failures as EngineErrors. The spec's error body is
// `{"errors":[{"code","message","detail"}]}`; moby prints an entry as `<code words>: <message>`
// (`manifest unknown: manifest unknown`), and so do we. Kinds come from the HTTP status and the
// spec code, never from message text.

import { EngineError, type ErrorKind, errnoOf } from '../../core/errors.ts';

export interface RegistryErrorEntry {
  readonly code: string;
  readonly message: string;
  readonly detail?: unknown;
}

/** The entries of a spec error body; empty when the body is not one. */
export function parseErrorBody(body: Buffer | string): RegistryErrorEntry[] {
  try {
    const j = JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as { errors?: unknown; details?: unknown };
    if (!Array.isArray(j.errors)) return [];
    return j.errors
      .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
      .map((e) => ({
        code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
        message: typeof e.message === 'string' ? e.message : '',
        ...(e.detail !== undefined ? { detail: e.detail } : {}),
      }));
  } catch {
    return [];
  }
}

/** `MANIFEST_UNKNOWN` -> `manifest unknown` (errcode's lower-cased descriptor). */
export function codeWords(code: string): string {
  return code.toLowerCase().replace(/_/g, ' ');
}

export function describeEntry(e: RegistryErrorEntry): string {
  return e.message ? `${codeWords(e.code)}: ${e.message}` : codeWords(e.code);
}

const KIND_BY_CODE: Readonly<Record<string, ErrorKind>> = {
  BLOB_UNKNOWN: 'not-found',
  MANIFEST_UNKNOWN: 'not-found',
  NAME_UNKNOWN: 'not-found',
  BLOB_UPLOAD_UNKNOWN: 'not-found',
  UNAUTHORIZED: 'unauthorized',
  DENIED: 'forbidden',
  TOOMANYREQUESTS: 'unavailable',
  UNSUPPORTED: 'not-implemented',
};

function kindOfStatus(status: number): ErrorKind {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 429 || status >= 500) return 'unavailable';
  return 'invalid-parameter';
}

/** An error reply of the registry. `code` is the first spec code (or `HTTP_<status>`). */
export class RegistryResponseError extends EngineError {
  constructor(
    readonly status: number,
    readonly entries: readonly RegistryErrorEntry[],
    message: string,
    kind?: ErrorKind,
  ) {
    super(kind ?? KIND_BY_CODE[entries[0]?.code ?? ''] ?? kindOfStatus(status), message, { code: entries[0]?.code ?? `HTTP_${status}` });
    this.name = 'RegistryResponseError';
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  416: 'Requested Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Error'}`;
}

/** The error for a reply with an unexpected status, from its (already read) body. */
export function responseError(status: number, body: Buffer, what: { method: string; url: string }): RegistryResponseError {
  const entries = parseErrorBody(body);
  if (entries.length > 0) return new RegistryResponseError(status, entries, entries.map(describeEntry).join('; '));
  if (status === 401) return new RegistryResponseError(status, entries, `${what.method} "${what.url}": unauthorized: authentication required`);
  return new RegistryResponseError(status, entries, `${what.method} "${what.url}": received unexpected HTTP status: ${statusLine(status)}`);
}

/** A network failure (no reply) as Go's net/http would word it; kind unavailable. */
export function networkError(e: unknown, method: string, url: URL): EngineError {
  const errno = errnoOf(e);
  const host = url.port ? `${url.hostname}:${url.port}` : `${url.hostname}:${url.protocol === 'https:' ? 443 : 80}`;
  const what = `${method[0] ?? ''}${method.slice(1).toLowerCase()} "${url.href}"`;
  let detail: string;
  switch (errno) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      detail = `dial tcp: lookup ${url.hostname}: no such host`;
      break;
    case 'ECONNREFUSED':
      detail = `dial tcp ${host}: connect: connection refused`;
      break;
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      detail = `dial tcp ${host}: i/o timeout`;
      break;
    case 'ECONNRESET':
      detail = `read tcp ${host}: connection reset by peer`;
      break;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      detail = `dial tcp ${host}: connect: no route to host`;
      break;
    default:
      detail = e instanceof Error ? e.message : String(e);
  }
  return new EngineError('unavailable', `${what}: ${detail}`, { code: errno ?? 'network', cause: e });
}

/** True for an abort through an AbortSignal (never wrapped: the caller went away). */
export function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || errnoOf(e) === 'ABORT_ERR');
}
