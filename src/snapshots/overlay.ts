// overlayfs mounts. The `lowerdir` list is made of short relative paths (`l/ABCD1234`, the
// short links to each snapshot's fs/), resolved against the snapshot root given as the mount's
// working directory, so that the whole option string fits in one page (4096 bytes) for about
// 350 layers. When the same options with absolute paths fit too (a few dozen layers), the
// mount is a direct mount(2) call; only taller stacks need mount(8) run in that directory.
// Options that make an upper directory diffable are pinned explicitly: no metacopy (a
// metadata-only copy-up has no data), no redirect_dir (a renamed directory would be a redirect
// xattr rather than a copy), no index.

import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { errnoOf, invalid } from '../core/errors.ts';
import * as native from './native.ts';

/** The kernel copies mount data into one page. */
const MAX_OPTIONS = native.MOUNT_DATA_MAX;

let pinned: string[] | undefined;
function pinnedOptions(): string[] {
  if (pinned === undefined) {
    pinned = [];
    // Only options this kernel knows (each has a module parameter of the same name).
    for (const opt of ['index', 'redirect_dir', 'metacopy']) {
      if (existsSync(`/sys/module/overlay/parameters/${opt}`)) pinned.push(`${opt}=off`);
    }
  }
  return pinned;
}

function checkDirOption(what: string, path: string): void {
  if (!isAbsolute(path)) throw invalid(`overlay ${what} must be an absolute path: ${JSON.stringify(path)}`);
  if (/[,:\\]/.test(path)) throw invalid(`overlay ${what} may not contain ',', ':' or '\\': ${JSON.stringify(path)}`);
}

export interface OverlayRequest {
  /** Lower directories, top first, relative to `cwd` (or absolute). At least one. */
  readonly lowers: readonly string[];
  readonly upperDir?: string;
  readonly workDir?: string;
  readonly target: string;
  readonly cwd: string;
}

/** The option string of an overlay mount; throws invalid-parameter when it cannot fit. */
export function overlayOptions(req: Omit<OverlayRequest, 'target' | 'cwd'>): string {
  const options = joinOptions(req);
  if (Buffer.byteLength(options) > MAX_OPTIONS) {
    throw invalid(`too many layers to mount: ${req.lowers.length} lower directories do not fit in the overlay mount options`);
  }
  return options;
}

/** The option string with every lower resolved against `cwd`, or undefined when `cwd` cannot be written in it. */
function absoluteOptions(req: Omit<OverlayRequest, 'target'>): string | undefined {
  if (!isAbsolute(req.cwd) || /[,:\\]/.test(req.cwd)) return undefined;
  return joinOptions({ ...req, lowers: req.lowers.map((l) => resolve(req.cwd, l)) });
}

function joinOptions(req: Omit<OverlayRequest, 'target' | 'cwd'>): string {
  if (req.lowers.length === 0) throw invalid('overlay needs at least one lower directory');
  for (const l of req.lowers) if (/[,:\\]/.test(l)) throw invalid(`bad overlay lower directory ${JSON.stringify(l)}`);
  const parts = [`lowerdir=${req.lowers.join(':')}`];
  if (req.upperDir !== undefined || req.workDir !== undefined) {
    if (req.upperDir === undefined || req.workDir === undefined) throw invalid('overlay needs both an upper and a work directory');
    checkDirOption('upper directory', req.upperDir);
    checkDirOption('work directory', req.workDir);
    parts.push(`upperdir=${req.upperDir}`, `workdir=${req.workDir}`);
  }
  parts.push(...pinnedOptions());
  return parts.join(',');
}

export async function mountOverlay(req: OverlayRequest): Promise<void> {
  const options = overlayOptions(req);
  await native.mount({ type: 'overlay', source: 'overlay', target: req.target, options, cwd: req.cwd, absoluteOptions: absoluteOptions(req) });
}

/** Unmount `target` if it is a mount point; detach lazily when it is busy. Idempotent. */
export async function unmount(target: string): Promise<void> {
  let path: string;
  try {
    path = await realpath(target);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw e;
  }
  // A target mounted more than once (a caller's retry) is unmounted until nothing is left.
  for (let i = 0; i < 16 && (await native.isMountPoint(path)); i++) {
    try {
      await native.unmount(path);
    } catch {
      await native.unmount(path, { lazy: true });
    }
  }
}
