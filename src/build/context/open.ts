// The build context a daemon receives: the tar extracted into a temporary directory with the
// snapshot extractor (nothing is ever written outside it), the Dockerfile found in it (following
// symlinks only within the context; `Dockerfile` falls back to `dockerfile`) and read, then the
// Dockerfile and .dockerignore removed from the context if .dockerignore excludes them, as
// Docker's daemon does (moby builder/remotecontext/detect.go).

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errnoOf, invalid } from '../../core/errors.ts';
import { extractLayer, type LayerInput } from '../../snapshots/index.ts';
import { IgnoreMatcher, readDockerignore } from './dockerignore.ts';
import { resolveInScope } from './scope.ts';

export interface OpenContextOptions {
  /** The Dockerfile's path inside the context (POST /build's `dockerfile`); default `Dockerfile`. */
  readonly dockerfile?: string;
  /** The Dockerfile's text when it does not come from the context. */
  readonly dockerfileText?: string;
  /** Where to make the temporary directory (default: the system's). */
  readonly tmpDir?: string;
  readonly signal?: AbortSignal;
}

export interface OpenedContext {
  /** The extracted context. */
  readonly dir: string;
  /** The Dockerfile's path inside the context as found (`dockerfile` when the fallback was used). */
  readonly dockerfileName: string;
  readonly dockerfileText: string;
  /** Remove the directory. */
  remove(): Promise<void>;
}

const DEFAULT_DOCKERFILE = 'Dockerfile';

async function readInContext(dir: string, path: string): Promise<string | undefined> {
  try {
    return await readFile(resolveInScope(dir, path), 'utf8');
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw e;
  }
}

/** Extract a build context tar (plain or gzipped) and read its Dockerfile. */
export async function openContextTar(input: LayerInput, options: OpenContextOptions = {}): Promise<OpenedContext> {
  const dir = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'berth-context-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    await extractLayer(input, dir, { signal: options.signal });

    let name = options.dockerfile === undefined || options.dockerfile === '' ? DEFAULT_DOCKERFILE : options.dockerfile;
    let text = options.dockerfileText;
    if (text === undefined) {
      text = await readInContext(dir, name);
      if (text === undefined && name === DEFAULT_DOCKERFILE) {
        text = await readInContext(dir, DEFAULT_DOCKERFILE.toLowerCase());
        if (text !== undefined) name = DEFAULT_DOCKERFILE.toLowerCase();
      }
      if (text === undefined) throw invalid(`Cannot locate specified Dockerfile: ${name}`);
      if (text.length === 0) throw invalid(`the Dockerfile (${name}) cannot be empty`);
    }

    const ignoreText = await readInContext(dir, '.dockerignore');
    if (ignoreText !== undefined) {
      const matcher = new IgnoreMatcher(readDockerignore(ignoreText));
      const drop = ['.dockerignore', ...(options.dockerfileText === undefined ? [name] : [])];
      for (const f of drop) {
        if (matcher.matches(f)) await rm(resolveInScope(dir, f), { recursive: true, force: true });
      }
    }
    return { dir, dockerfileName: name, dockerfileText: text, remove };
  } catch (e) {
    await remove();
    throw e;
  }
}
