#!/usr/bin/env -S node --max-semi-space-size=1
// Entry point of `berth registry serve`: parse the flags, serve until SIGINT/SIGTERM, log one
// line per request to stderr.
import { setFlagsFromString } from 'node:v8';
import { serveRegistry, parseServeArgs } from './serve.ts';

// Keep V8's young generation small (1 MiB a semi-space; V8 would grow it to 16). Every chunk of
// a request body is a ~64 KiB buffer outside the heap that only a young-generation collection
// frees, and a small young generation is collected sooner: the process grows by about 20 MiB
// instead of 35 on its first 100 MiB upload (freed memory stays with malloc, for the next one).
// Those collections are cheap (well under a millisecond). Run directly, the shebang's flag
// caps it from the start; `berth registry serve` loads this bundle into the CLI's process,
// where only this runtime flag can act: V8 reads it whenever the young generation would grow,
// so it keeps the size the CLI's start-up left (usually the initial 1 MiB).
setFlagsFromString('--semi-space-growth-factor=1');

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

try {
  const { registry } = await serveRegistry(parseServeArgs(process.argv.slice(2)), log);
  const stop = (): void => {
    registry.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (e) {
  process.stderr.write(`berth registry: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
