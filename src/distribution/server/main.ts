#!/usr/bin/env node
// Entry point of `berth registry serve`: parse the flags, serve until SIGINT/SIGTERM, log one
// line per request to stderr.
import { serveRegistry, parseServeArgs } from './serve.ts';

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
