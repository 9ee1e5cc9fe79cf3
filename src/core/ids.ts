import { randomBytes } from 'node:crypto';

declare const containerIdBrand: unique symbol;
export type ContainerId = string & { readonly [containerIdBrand]: true };

/** 64 lowercase hex characters, as Docker's container and exec IDs. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function newContainerId(): ContainerId {
  return newId() as ContainerId;
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** Docker's container name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
export function isValidContainerName(name: string): boolean {
  return NAME_RE.test(name);
}
