// Registry errors: the one table mapping an EngineError (its specific code, else its kind) to
// the distribution spec's error code and HTTP status, and the wire body
// `{"errors":[{"code","message","detail"}]}`.

import { EngineError, type ErrorKind } from '../../core/errors.ts';

/** The error codes of distribution-spec v1.1, plus UNKNOWN for a server fault. */
export type RegistryErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'UNKNOWN';

/** Codes the server gives its own EngineErrors (plus the content store's `digest-mismatch`, …). */
export type ServerErrorCode =
  | 'blob-unknown'
  | 'blob-upload-invalid'
  | 'blob-upload-unknown'
  | 'range-invalid'
  | 'digest-invalid'
  | 'digest-mismatch'
  | 'digest-unsupported'
  | 'manifest-blob-unknown'
  | 'manifest-invalid'
  | 'manifest-unknown'
  | 'manifest-unsupported'
  | 'manifest-too-large'
  | 'name-invalid'
  | 'name-unknown'
  | 'tag-invalid'
  | 'size-invalid'
  | 'size-mismatch'
  | 'pagination-invalid'
  | 'method-not-allowed'
  | 'route-unknown'
  | 'too-many-requests';

interface Mapping {
  readonly code: RegistryErrorCode;
  readonly status: number;
  readonly kind: ErrorKind;
}

const m = (code: RegistryErrorCode, status: number, kind: ErrorKind): Mapping => ({ code, status, kind });

/**
 * The one table. An EngineError is looked up by its `code` first (EngineError's code defaults
 * to its kind, so kinds are keys too), which gives the spec code and the HTTP status.
 */
const TABLE: { readonly [key in ServerErrorCode | ErrorKind]: Mapping } = {
  'blob-unknown': m('BLOB_UNKNOWN', 404, 'not-found'),
  'blob-upload-invalid': m('BLOB_UPLOAD_INVALID', 400, 'invalid-parameter'),
  'blob-upload-unknown': m('BLOB_UPLOAD_UNKNOWN', 404, 'not-found'),
  'range-invalid': m('BLOB_UPLOAD_INVALID', 416, 'invalid-parameter'),
  'digest-invalid': m('DIGEST_INVALID', 400, 'invalid-parameter'),
  'digest-mismatch': m('DIGEST_INVALID', 400, 'invalid-parameter'),
  'digest-unsupported': m('UNSUPPORTED', 415, 'not-implemented'),
  'manifest-blob-unknown': m('MANIFEST_BLOB_UNKNOWN', 400, 'invalid-parameter'),
  'manifest-invalid': m('MANIFEST_INVALID', 400, 'invalid-parameter'),
  'manifest-unknown': m('MANIFEST_UNKNOWN', 404, 'not-found'),
  'manifest-unsupported': m('UNSUPPORTED', 415, 'not-implemented'),
  'manifest-too-large': m('SIZE_INVALID', 413, 'invalid-parameter'),
  'name-invalid': m('NAME_INVALID', 400, 'invalid-parameter'),
  'name-unknown': m('NAME_UNKNOWN', 404, 'not-found'),
  'tag-invalid': m('MANIFEST_INVALID', 400, 'invalid-parameter'),
  'size-invalid': m('SIZE_INVALID', 400, 'invalid-parameter'),
  'size-mismatch': m('SIZE_INVALID', 400, 'invalid-parameter'),
  'pagination-invalid': m('UNSUPPORTED', 400, 'invalid-parameter'),
  'method-not-allowed': m('UNSUPPORTED', 405, 'not-implemented'),
  'route-unknown': m('NAME_UNKNOWN', 404, 'not-found'),
  'too-many-requests': m('TOOMANYREQUESTS', 429, 'unavailable'),
  // Kinds, for EngineErrors raised elsewhere without a registry-specific code.
  'invalid-parameter': m('UNSUPPORTED', 400, 'invalid-parameter'),
  'not-found': m('NAME_UNKNOWN', 404, 'not-found'),
  conflict: m('DENIED', 409, 'conflict'),
  'not-modified': m('UNKNOWN', 304, 'not-modified'),
  unauthorized: m('UNAUTHORIZED', 401, 'unauthorized'),
  forbidden: m('DENIED', 403, 'forbidden'),
  unavailable: m('UNKNOWN', 503, 'unavailable'),
  'not-implemented': m('UNSUPPORTED', 415, 'not-implemented'),
  'cannot-execute': m('UNKNOWN', 500, 'cannot-execute'),
  'command-not-found': m('UNKNOWN', 500, 'command-not-found'),
  system: m('UNKNOWN', 500, 'system'),
};

function lookup(key: string): Mapping | undefined {
  return Object.hasOwn(TABLE, key) ? TABLE[key as keyof typeof TABLE] : undefined;
}

/** An EngineError that also carries the spec's optional `detail`. */
export class RegistryError extends EngineError {
  readonly detail: unknown;
  constructor(code: ServerErrorCode | 'unauthorized' | 'forbidden', message: string, detail?: unknown) {
    super(TABLE[code].kind, message, { code });
    this.name = 'RegistryError';
    this.detail = detail;
  }
}

export function registryError(code: ServerErrorCode | 'unauthorized' | 'forbidden', message: string, detail?: unknown): RegistryError {
  return new RegistryError(code, message, detail);
}

export interface ErrorResponse {
  readonly status: number;
  readonly body: { errors: { code: RegistryErrorCode; message: string; detail?: unknown }[] };
}

/** Status and wire body for any thrown value; unknown errors become a 500 without internals. */
export function errorResponse(e: unknown): ErrorResponse {
  if (e instanceof EngineError) {
    const mapping = lookup(e.code) ?? lookup(e.kind) ?? TABLE.system;
    const entry: { code: RegistryErrorCode; message: string; detail?: unknown } = {
      code: mapping.code,
      message: mapping.status >= 500 ? 'internal server error' : e.message,
    };
    if (e instanceof RegistryError && e.detail !== undefined) entry.detail = e.detail;
    return { status: mapping.status, body: { errors: [entry] } };
  }
  return { status: 500, body: { errors: [{ code: 'UNKNOWN', message: 'internal server error' }] } };
}
