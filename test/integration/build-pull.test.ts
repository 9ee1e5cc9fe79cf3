// FROM (and COPY --from) images the builder has to fetch, end to end: a private berthd, berth's
// own registry on 127.0.0.1 (plain HTTP; one open, one behind htpasswd Basic auth), the berth
// CLI and the docker CLI (classic builder, POST /build). A missing image is pulled with its
// progress in the build output; `--pull` (`pull=1`) fetches a newer version of one present;
// X-Registry-Config carries the logins (from config.json); an unknown image is a clear error
// that names it and leaves nothing behind. The registries run in this process, so every command
// that reaches them runs asynchronously.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestRegistry, type TestRegistry } from '../../src/distribution/server/testing.ts';
import { BERTH, DOCKER, REPO, TestDaemon, leftoverMounts, ok, withDaemon, type RunResult } from '../helpers/daemon.ts';

const HTPASSWD = join(REPO, 'src/distribution/server/testdata/htpasswd'); // alice:wonderland

let d: TestDaemon;
let work: string;
let reg: TestRegistry;
let secured: TestRegistry;
/** A config.json directory with no logins. */
let anonymous: string;

before(async () => {
  d = await withDaemon();
  work = mkdtempSync('/tmp/berth-build-pull-');
  anonymous = join(work, 'cfg-anonymous');
  mkdirSync(anonymous);
  reg = await startTestRegistry();
  secured = await startTestRegistry({ htpasswd: HTPASSWD });
});
after(async () => {
  await reg?.close();
  await secured?.close();
  rmSync(work, { recursive: true, force: true });
  await d.stop();
});

/** berth (dist) or docker (the classic builder) against the test daemon, without blocking the registries. */
function run(program: 'berth' | 'docker', args: string[], o: { config?: string; input?: string } = {}): Promise<RunResult> {
  const [file, argv] = program === 'berth' ? [process.execPath, [BERTH, ...args]] : [DOCKER, ['-H', `unix://${d.socket}`, ...args]];
  return new Promise((resolve) => {
    const p = spawn(file, argv, { env: { ...d.env, DOCKER_CONFIG: o.config ?? anonymous, DOCKER_BUILDKIT: '0' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.stdin.end(o.input ?? '');
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}
const berth = (args: string[], o: { config?: string; input?: string } = {}): Promise<RunResult> => run('berth', args, o);

let count = 0;
function context(dockerfile: string): string {
  const dir = join(work, `ctx${++count}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  return dir;
}

const imageId = async (ref: string): Promise<string> => ok(await berth(['image', 'inspect', '-f', '{{.Id}}', ref])).trim();
const allImages = async (): Promise<string[]> => ok(await berth(['images', '-a', '-q', '--no-trunc'])).split('\n').filter(Boolean).sort();
const manifestRequests = (r: TestRegistry, repo: string): number => r.log.filter((e) => e.url.startsWith(`/v2/${repo}/manifests/`)).length;

/** An image with /version holding `version`, built here and pushed as `ref` (then untagged here). */
async function publish(ref: string, version: string, config?: string): Promise<string> {
  const id = ok(await berth(['build', '-q', '-t', ref, context(`FROM busybox\nRUN echo ${version} > /version\n`)])).trim();
  ok(await berth(['push', ref], config ? { config } : {}));
  ok(await berth(['rmi', ref]));
  return id;
}

async function nothingLeft(): Promise<void> {
  assert.equal(ok(await berth(['ps', '-aq'])).trim(), '', 'no containers left');
  assert.deepEqual(leftoverMounts(d.root), [], 'no mounts left');
}

// ---------------------------------------------------------------------------------------------

describe('FROM an image that is not here', () => {
  test('is pulled from its registry, the pull progress in the build output (berth CLI)', async () => {
    const ref = `${reg.host}/app:1`;
    const v1 = await publish(ref, 'v1');
    const out = ok(await berth(['build', '--no-cache', '-t', 'pulled-base', context(`FROM ${ref}\nRUN cat /version\n`)]));
    const lines = out.split('\n');
    const from = lines.indexOf(`Step 1/2 : FROM ${ref}`);
    assert.ok(from >= 0, out);
    // docker's pull lines, off a terminal without byte counts, between the step and its result
    assert.equal(lines[from + 1], `1: Pulling from ${reg.host}/app`);
    assert.ok(lines.some((l) => /^[0-9a-f]{12}: Pull complete$/.test(l)), out);
    assert.ok(lines.some((l) => /^[0-9a-f]{12}: Already exists$/.test(l)), `the busybox layer is here already:\n${out}`);
    assert.ok(!lines.some((l) => l.includes('Downloading')), out);
    assert.match(out, /^Digest: sha256:[0-9a-f]{64}$/m);
    assert.match(out, new RegExp(`^Status: Downloaded newer image for ${reg.host}/app:1\\n ---> ${v1.slice(7, 19)}\\nStep 2/2 : RUN cat /version\\n`, 'm'));
    assert.match(out, /^v1$/m);
    // the pulled image is tagged as `docker pull` would tag it
    assert.equal(await imageId(ref), v1);
    await nothingLeft();
  });

  test('the docker CLI shows the same pull in its build output; -q shows none of it', async () => {
    const ref = `${reg.host}/app:dk`;
    await publish(ref, 'dk');
    const out = ok(await run('docker', ['build', '--no-cache', '-t', 'pulled-by-docker', context(`FROM ${ref}\nRUN cat /version\n`)]));
    assert.match(out, new RegExp(`^Step 1/2 : FROM ${ref}\\ndk: Pulling from ${reg.host}/app`, 'm'));
    assert.match(out, new RegExp(`^Status: Downloaded newer image for ${ref}$`, 'm'));
    assert.match(out, /^dk$/m);
    const ref2 = `${reg.host}/app:quiet`;
    await publish(ref2, 'quiet');
    const q = ok(await berth(['build', '-q', context(`FROM ${ref2}\nRUN cat /version\n`)]));
    assert.match(q, /^sha256:[0-9a-f]{64}\n$/);
  });

  test('COPY --from=<image> pulls a missing image too', async () => {
    const ref = `${reg.host}/tools:1`;
    await publish(ref, 'tools-v1');
    const out = ok(await berth(['build', '-t', 'copy-from-pulled', context(`FROM busybox\nCOPY --from=${ref} /version /from-tools\n`)]));
    assert.match(out, new RegExp(`^Status: Downloaded newer image for ${ref}$`, 'm'));
    assert.equal(ok(await berth(['run', '--rm', 'copy-from-pulled', 'cat', '/from-tools'])), 'tools-v1\n');
  });

  test('an unknown image or tag: a clear error naming it, nothing left behind', async () => {
    const before = await allImages();
    const noRepo = await berth(['build', '-t', 'never-built', context(`FROM ${reg.host}/nope:1\nRUN true\n`)]);
    assert.equal(noRepo.code, 1, noRepo.stderr);
    assert.match(noRepo.stdout, new RegExp(`^Step 1/2 : FROM ${reg.host}/nope:1$`, 'm'));
    assert.doesNotMatch(noRepo.stdout, /Step 2\/2/);
    assert.match(noRepo.stderr, new RegExp(`(manifest for ${reg.host}/nope:1 not found|repository ${reg.host}/nope not found)`));
    const noTag = await berth(['build', context(`FROM ${reg.host}/app:nosuchtag\n`)]);
    assert.equal(noTag.code, 1);
    assert.match(noTag.stderr, new RegExp(`manifest for ${reg.host}/app:nosuchtag not found: manifest unknown`));
    const copyFrom = await berth(['build', context(`FROM busybox\nCOPY --from=${reg.host}/nope:2 /x /x\n`)]);
    assert.equal(copyFrom.code, 1);
    assert.match(copyFrom.stderr, new RegExp(`invalid from flag value ${reg.host}/nope:2: .*nope`));
    // a registry that is not there at all
    const down = await berth(['build', context('FROM 127.0.0.1:9/gone:1\n')]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^failed to pull 127\.0\.0\.1:9\/gone:1: Get "http:\/\/127\.0\.0\.1:9\/v2\/": .*connection refused/m);
    const dk = await run('docker', ['build', context(`FROM ${reg.host}/nope:3\n`)]);
    assert.equal(dk.code, 1);
    assert.match(dk.stderr, new RegExp(`${reg.host}/nope`));
    assert.equal((await berth(['image', 'inspect', 'never-built'])).code, 1);
    assert.deepEqual(await allImages(), before);
    await nothingLeft();
  });
});

describe('--pull', () => {
  test('a present image is used as it is, unless --pull: then the newer version is pulled', async () => {
    const ref = `${reg.host}/moving:latest`;
    const v1 = await publish(ref, 'v1');
    const df = `FROM ${ref}\nRUN cat /version\n`;
    ok(await berth(['pull', ref]));
    // the registry moves on: v2 under the same tag, while this engine still has v1
    const v2 = await publish(ref, 'v2');
    ok(await berth(['tag', v1, ref]));

    const seen = manifestRequests(reg, 'moving');
    const cached = ok(await berth(['build', '--no-cache', context(df)]));
    assert.equal(manifestRequests(reg, 'moving'), seen, 'without --pull the registry is not asked');
    assert.doesNotMatch(cached, /Pulling from/);
    assert.match(cached, /^v1$/m);

    const pulled = ok(await berth(['build', '--pull', '--no-cache', '-t', 'on-v2', context(df)]));
    assert.ok(manifestRequests(reg, 'moving') > seen);
    assert.match(pulled, new RegExp(`^Status: Downloaded newer image for ${ref.replace(':latest', '')}:latest\\n ---> ${v2.slice(7, 19)}$`, 'm'));
    assert.match(pulled, /^v2$/m);
    assert.equal(await imageId(ref), v2);

    // pulled again: up to date, and the steps after FROM come from the cache
    const again = ok(await berth(['build', '--pull', '-t', 'on-v2', context(df)]));
    assert.match(again, /^Status: Image is up to date for /m);
    assert.match(again, /Step 2\/2 : RUN cat \/version\n ---> Using cache/);
  });

  test('the docker CLI\'s --pull (pull=1) does the same', async () => {
    const ref = `${reg.host}/moving-dk:latest`;
    const v1 = await publish(ref, 'dk-v1');
    ok(await berth(['pull', ref]));
    const v2 = await publish(ref, 'dk-v2');
    ok(await berth(['tag', v1, ref]));
    const out = ok(await run('docker', ['build', '--pull', '--no-cache', context(`FROM ${ref}\nRUN cat /version\n`)]));
    assert.match(out, /^Status: Downloaded newer image for /m);
    assert.match(out, /^dk-v2$/m);
    assert.equal(await imageId(ref), v2);
  });

  test('a stage name or scratch is never pulled; an image ID is used as it is', async () => {
    const id = await imageId('busybox');
    const out = ok(await berth(['build', '--pull', context(`FROM scratch AS empty\nFROM ${id} AS base\nFROM base\nCOPY --from=empty / /e/\nRUN echo stages\n`)]));
    assert.doesNotMatch(out, /Pulling from/);
    assert.match(out, /^stages$/m);
  });
});

describe('registry credentials (X-Registry-Config)', () => {
  let loggedIn: string;
  const ref = (): string => `${secured.host}/private/app:1`;

  before(async () => {
    loggedIn = join(work, 'cfg-berth');
    ok(await berth(['login', '-u', 'alice', '--password-stdin', secured.host], { config: loggedIn, input: 'wonderland\n' }));
    await publish(ref(), 'secret', loggedIn);
  });

  test('without a login the pull is refused, with a clear error and nothing left', async () => {
    const before = await allImages();
    const r = await berth(['build', context(`FROM ${ref()}\n`)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^failed to pull ${ref()}: Get "http://${secured.host}/v2/": no basic auth credentials$`, 'm'));
    assert.deepEqual(await allImages(), before);
    await nothingLeft();
  });

  test('the berth CLI sends the logins of its config.json', async () => {
    const header = readFileSync(join(loggedIn, 'config.json'), 'utf8');
    assert.match(header, /"auths"/);
    const out = ok(await berth(['build', '--no-cache', '-t', 'from-private', context(`FROM ${ref()}\nRUN cat /version\n`)], { config: loggedIn }));
    assert.match(out, new RegExp(`^Status: Downloaded newer image for ${ref()}$`, 'm'));
    assert.match(out, /^secret$/m);
    assert.ok(secured.log.some((e) => e.user === 'alice' && e.url.startsWith('/v2/private/app/manifests/')));
  });

  test('the docker CLI sends its logins with POST /build', async () => {
    ok(await berth(['rmi', ref()]));
    const dockerConfig = join(work, 'cfg-docker');
    ok(await run('docker', ['login', '-u', 'alice', '--password-stdin', secured.host], { config: dockerConfig, input: 'wonderland\n' }));
    const out = ok(await run('docker', ['build', '--pull', '--no-cache', context(`FROM ${ref()}\nRUN cat /version\n`)], { config: dockerConfig }));
    assert.match(out, /^secret$/m);
    // a wrong password is a failure, not an anonymous pull
    const wrong = join(work, 'cfg-wrong');
    mkdirSync(wrong);
    writeFileSync(join(wrong, 'config.json'), JSON.stringify({ auths: { [secured.host]: { auth: Buffer.from('alice:mirror').toString('base64') } } }));
    const r = await berth(['build', '--pull', context(`FROM ${ref()}\n`)], { config: wrong });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`failed to pull ${ref()}: .*(unauthorized|authentication required|401)`, 'i'));
  });
});
