// Transport, decompression and verification against small local servers: retries with
// back-off on 5xx, redirects that drop Authorization when they leave the registry, HTTPS first
// then plain HTTP for loopback registries, clear network errors, gzip/zstd, digest checks.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { sha256Digest } from '../../core/digest.ts';
import { isEngineError } from '../../core/errors.ts';
import { decompress } from './decompress.ts';
import { verified } from './pull.ts';
import { RegistrySession } from './session.ts';
import { readReply, Transport } from './transport.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(handler: Handler): Promise<{ url: string; host: string; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${host}`,
    host,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

describe('transport', () => {
  const t = new Transport({ backoffMs: 5 });
  after(() => t.close());

  test('retries a GET after 503s with back-off, and gives up on 501 at once', async () => {
    let calls = 0;
    const s = await serve((req, res) => {
      calls++;
      if (req.url === '/flaky' && calls < 3) {
        res.writeHead(503).end();
        return;
      }
      if (req.url === '/nope') {
        res.writeHead(501).end();
        return;
      }
      res.writeHead(200).end('ok');
    });
    try {
      const r = await t.send({ method: 'GET', url: new URL('/flaky', s.url) });
      assert.equal(r.status, 200);
      assert.equal((await readReply(r)).toString(), 'ok');
      assert.equal(calls, 3);
      calls = 0;
      const n = await t.send({ method: 'GET', url: new URL('/nope', s.url) });
      assert.equal(n.status, 501);
      assert.equal(calls, 1);
      // a POST is not retried unless asked
      calls = 0;
      const p = await t.send({ method: 'POST', url: new URL('/flaky', s.url) });
      assert.equal(p.status, 503);
      assert.equal(calls, 1);
    } finally {
      await s.close();
    }
  });

  test('retries after a reset connection', async () => {
    let calls = 0;
    const s = await serve((_req, res) => {
      calls++;
      if (calls === 1) {
        res.socket?.destroy();
        return;
      }
      res.writeHead(200).end('ok');
    });
    try {
      const r = await t.send({ method: 'GET', url: new URL('/x', s.url) });
      assert.equal(r.status, 200);
      assert.equal(calls, 2);
    } finally {
      await s.close();
    }
  });

  test('follows redirects; Authorization goes to the registry only, never to the storage host', async () => {
    const seen: (string | undefined)[] = [];
    const storage = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200).end('blob');
    });
    const registry = await serve((req, res) => {
      seen.push(req.headers.authorization);
      if (req.url === '/same') {
        res.writeHead(307, { Location: '/final' }).end();
        return;
      }
      if (req.url === '/final') {
        res.writeHead(200).end('same-host');
        return;
      }
      res.writeHead(307, { Location: `${storage.url}/blob?sig=1` }).end();
    });
    try {
      const r = await t.send({ method: 'GET', url: new URL('/v2/x/blobs/sha256:1', registry.url), headers: { Authorization: 'Bearer secret' } });
      assert.equal((await readReply(r)).toString(), 'blob');
      assert.deepEqual(seen, ['Bearer secret', undefined]);
      seen.length = 0;
      const r2 = await t.send({ method: 'GET', url: new URL('/same', registry.url), headers: { Authorization: 'Bearer secret' } });
      assert.equal((await readReply(r2)).toString(), 'same-host');
      assert.deepEqual(seen, ['Bearer secret', 'Bearer secret']);
    } finally {
      await registry.close();
      await storage.close();
    }
  });

  test('a loopback registry over plain HTTP: HTTPS is tried first, then HTTP is remembered', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Docker-Distribution-API-Version': 'registry/2.0' }).end('{}');
    });
    try {
      const session = new RegistrySession({ transport: t, endpoint: t.endpoint(s.host) });
      const base = await session.base();
      assert.equal(base.protocol, 'http:');
      assert.deepEqual(t.schemesFor(t.endpoint(s.host)), ['http']);
    } finally {
      await s.close();
    }
  });

  test('connection refused and unknown hosts are clear "unavailable" errors', async () => {
    const s = await serve(() => undefined);
    const host = s.host;
    await s.close();
    const session = new RegistrySession({ transport: new Transport({ backoffMs: 1 }), endpoint: t.endpoint(host) });
    await assert.rejects(session.base(), (e: unknown) => {
      assert.ok(isEngineError(e, 'unavailable'), String(e));
      assert.match((e as Error).message, new RegExp(`Get "http://${host}/v2/": dial tcp ${host}: connect: connection refused`));
      return true;
    });
    const noDns = new Transport({
      lookup: (hostname, _o, cb) => {
        const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
        (cb as (e: Error) => void)(err);
      },
    });
    const s2 = new RegistrySession({ transport: noDns, endpoint: noDns.endpoint('registry.nosuch.test') });
    await assert.rejects(s2.base(), (e: unknown) => {
      assert.ok(isEngineError(e, 'unavailable'), String(e));
      assert.match((e as Error).message, /^Get "https:\/\/registry\.nosuch\.test\/v2\/": dial tcp: lookup registry\.nosuch\.test: no such host$/);
      return true;
    });
  });

  test('an aborted request rejects with the abort, not a network error', async () => {
    const s = await serve(() => undefined); // never answers
    try {
      const ac = new AbortController();
      const p = t.send({ method: 'GET', url: new URL('/slow', s.url), signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      await assert.rejects(p, (e: unknown) => (e as Error).name === 'AbortError');
    } finally {
      await s.close();
    }
  });
});

describe('decompression and verification', () => {
  const tar = Buffer.alloc(10_000, 7);

  test('gzip and plain bytes; zstd through the zstd program, or refused as not implemented', async () => {
    assert.deepEqual(await collect(decompress(Readable.from([gzipSync(tar)]))), tar);
    assert.deepEqual(await collect(decompress(Readable.from([tar.subarray(0, 2), tar.subarray(2)]))), tar);
    const zst = execFileSync('zstd', ['-q', '-c'], { input: tar });
    assert.deepEqual(await collect(decompress(Readable.from([zst]))), tar);
    await assert.rejects(collect(decompress(Readable.from([zst]), { zstd: null })), (e: unknown) => isEngineError(e, 'not-implemented'));
    await assert.rejects(collect(decompress(Readable.from([Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5])]))), (e: unknown) => isEngineError(e, 'invalid-parameter'));
  });

  test('every byte is checked: digest mismatch, too many bytes, too few (unexpected EOF)', async () => {
    const good = { digest: sha256Digest(tar), size: tar.length };
    assert.deepEqual(await collect(verified(Readable.from([tar]), good)), tar);
    await assert.rejects(collect(verified(Readable.from([tar]), { digest: sha256Digest('x'), size: tar.length })), (e: unknown) => isEngineError(e, 'invalid-parameter') && (e as { code: string }).code === 'digest-mismatch');
    await assert.rejects(collect(verified(Readable.from([tar]), { ...good, size: tar.length - 1 })), (e: unknown) => isEngineError(e, 'invalid-parameter'));
    await assert.rejects(collect(verified(Readable.from([tar.subarray(0, 100)]), good)), (e: unknown) => isEngineError(e, 'unavailable') && /unexpected EOF/.test((e as Error).message));
    // a verification error reaches the consumer through decompression
    await assert.rejects(collect(decompress(verified(Readable.from([gzipSync(tar)]), { digest: sha256Digest('x'), size: gzipSync(tar).length }))), (e: unknown) => (e as { code?: string }).code === 'digest-mismatch');
  });
});

before(() => {
  execFileSync('zstd', ['--version'], { stdio: 'ignore' });
});
