// `builder prune` forgets the build cache: the next build runs every step again, and tagged
// images (and containers' images) are kept.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon, withDaemon } from '../helpers/daemon.ts';

let d: TestDaemon;
let ctx: string;
before(async () => {
  d = await withDaemon();
  ctx = mkdtempSync('/tmp/berth-prune-ctx-');
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo built > /built\nENV X=1\nCMD ["cat", "/built"]\n');
});
after(async () => {
  rmSync(ctx, { recursive: true, force: true });
  await d.stop();
});

test('builder prune empties the cache; tagged images stay usable', () => {
  const first = d.berth(['build', '-t', 'pr:1', ctx]);
  assert.equal(first.code, 0, first.stderr);
  const cached = d.berth(['build', '-t', 'pr:1', ctx]);
  assert.equal(cached.code, 0, cached.stderr);
  assert.equal((cached.stdout.match(/Using cache/g) ?? []).length, 3);
  const pruned = d.berth(['builder', 'prune', '-f']);
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /Total reclaimed space:/);
  const run = d.berth(['run', '--rm', 'pr:1']);
  assert.equal(run.stdout, 'built\n', run.stderr);
  const again = d.berth(['build', '-t', 'pr:1', ctx]);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /Using cache/);
  assert.match(again.stdout, /Running in/);
});
