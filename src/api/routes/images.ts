// /images/...: list, inspect, tag, remove, prune, import (fromSrc).
import { Readable } from 'node:stream';
import { invalid, EngineError } from '../../core/errors.ts';
import type { Digest } from '../../core/digest.ts';
import type { Engine } from '../../engine/engine.ts';
import { type Router, boolParam, filtersParam, noContent, readJsonBody, sendJson } from '../server.ts';
import { toImageInspect, toImageSummary } from '../types/image.ts';
import { filterTimeMs } from './containers.ts';
import { familiarString, parseReference } from '../../core/reference.ts';

export function imageRoutes(r: Router, engine: Engine): void {
  const images = engine.images;
  const usedBy = (id: Digest): string[] => engine.containers.store.list().filter((c) => c.config.imageId === id).map((c) => c.id);

  r.add('GET', '/images/json', (ctx) => {
    const all = boolParam(ctx.query, 'all');
    const f = filtersParam(ctx.query);
    const out = [];
    for (const rec of images.list().sort((a, b) => Date.parse(b.created) - Date.parse(a.created))) {
      const tags = images.tagsOf(rec.id);
      const intermediate = tags.length === 0 && images.childrenOf(rec.id).length > 0;
      if (intermediate && !all) continue;
      const dangling = f.get('dangling');
      if (dangling?.length) {
        const want = dangling[0] === 'true' || dangling[0] === '1';
        if (want !== (tags.length === 0 && !intermediate)) continue;
      }
      const labels = f.get('label') ?? [];
      const l = rec.config.config?.Labels ?? {};
      if (!labels.every((v) => (v.includes('=') ? l[v.split('=')[0] ?? ''] === v.slice(v.indexOf('=') + 1) : v in l))) continue;
      const refs = f.get('reference') ?? [];
      if (refs.length && !tags.some((t) => refs.some((p) => globMatch(p, familiarString(t)) || globMatch(p, familiarString(t).split(':')[0] ?? '')))) continue;
      const before = f.get('before')?.[0];
      if (before && Date.parse(rec.created) >= Date.parse(images.resolve(before).created)) continue;
      const since = f.get('since')?.[0];
      if (since && Date.parse(rec.created) <= Date.parse(images.resolve(since).created)) continue;
      const until = f.get('until')?.[0];
      if (until && Date.parse(rec.created) >= filterTimeMs(until)) continue;
      out.push(toImageSummary(rec, tags, usedBy(rec.id).length, images.repoDigestsOf(rec.id)));
    }
    sendJson(ctx.res, 200, out);
  });

  r.add('POST', '/images/create', async (ctx) => {
    const q = ctx.query;
    const fromSrc = q.get('fromSrc');
    if (fromSrc !== '-') throw invalid('importing from a URL is not supported; send the archive in the request body');
    const repo = q.get('repo') ?? '';
    const tag = q.get('tag') ?? '';
    let target: string | undefined;
    if (repo) {
      target = tag ? `${repo}:${tag}` : repo;
      parseReference(target);
    }
    const changes = q.getAll('changes').flatMap((c) => c.split('\n')).filter((c) => c.trim() !== '');
    const ac = new AbortController();
    ctx.req.on('aborted', () => ac.abort());
    const rec = await engine.importImage(Readable.from(ctx.req), {
      changes,
      ...(q.get('message') ? { message: q.get('message') ?? '' } : {}),
      ...(target ? { tag: target } : {}),
      signal: ac.signal,
    });
    ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
    ctx.res.end(JSON.stringify({ status: rec.id }) + '\n');
  });

  r.add('POST', '/images/prune', async (ctx) => {
    const f = filtersParam(ctx.query);
    const dangling = f.get('dangling')?.[0];
    const onlyDangling = !(dangling === 'false' || dangling === '0');
    const deleted: Record<string, string>[] = [];
    let space = 0;
    const until = f.get('until')?.[0];
    // children first: removing an image can leave its parent unused, so go round until stable
    for (let progress = true; progress; ) {
      progress = false;
      for (const rec of images.list()) {
        const tags = images.tagsOf(rec.id);
        if (onlyDangling && tags.length > 0) continue;
        if (images.childrenOf(rec.id).length > 0) continue;
        if (usedBy(rec.id).length > 0) continue;
        if (until && Date.parse(rec.created) >= filterTimeMs(until)) continue;
        for (const t of tags) deleted.push({ Untagged: familiarString(t) });
        await images.delete(rec.id);
        deleted.push({ Deleted: rec.id });
        space += rec.size;
        progress = true;
      }
    }
    space = Math.max(space, await engine.collectGarbage());
    sendJson(ctx.res, 200, { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: space });
  });

  r.add('POST', '/commit', async (ctx) => {
    const q = ctx.query;
    const body = (await readJsonBody<Record<string, unknown>>(ctx.req)) ?? {};
    const repo = q.get('repo') ?? '';
    const tag = q.get('tag') ?? '';
    const target = repo ? (tag ? `${repo}:${tag}` : repo) : undefined;
    if (target) parseReference(target);
    const changes = q.getAll('changes').flatMap((c) => c.split('\n')).filter((c) => c.trim() !== '');
    const config: Record<string, unknown> = {};
    for (const k of ['Cmd', 'Entrypoint', 'Env', 'WorkingDir', 'User', 'Labels', 'ExposedPorts', 'StopSignal', 'Volumes'] as const) {
      const v = body[k];
      if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) && v !== '') config[k] = v;
    }
    const img = await engine.commit(q.get('container') ?? '', {
      changes,
      ...(q.get('comment') ? { message: q.get('comment') ?? '' } : {}),
      ...(q.get('author') ? { author: q.get('author') ?? '' } : {}),
      ...(target ? { tag: target } : {}),
      pause: q.get('pause') === null ? true : boolParam(q, 'pause'),
      config,
    });
    sendJson(ctx.res, 201, { Id: img.id });
  });

  r.add('GET', '/images/{name:.*}/json', (ctx) => {
    const rec = images.resolve(ctx.params.name ?? '');
    sendJson(ctx.res, 200, toImageInspect(rec, images.tagsOf(rec.id), images.repoDigestsOf(rec.id)));
  });

  r.add('GET', '/images/{name:.*}/history', (ctx) => {
    const rec = images.resolve(ctx.params.name ?? '');
    const hist = rec.config.history ?? [];
    let layer = rec.layers.length - 1;
    const out = [...hist].reverse().map((h, i) => {
      const size = h.empty_layer ? 0 : (rec.layers[layer--]?.size ?? 0);
      return {
        Id: i === 0 ? rec.id : '<missing>',
        Created: Math.floor(Date.parse(h.created ?? rec.created) / 1000),
        CreatedBy: h.created_by ?? '',
        Tags: i === 0 ? images.tagsOf(rec.id).map(familiarString) : null,
        Size: size,
        Comment: h.comment ?? '',
      };
    });
    sendJson(ctx.res, 200, out);
  });

  r.add('POST', '/images/{name:.*}/tag', async (ctx) => {
    const rec = images.resolve(ctx.params.name ?? '');
    const repo = ctx.query.get('repo') ?? '';
    const tag = ctx.query.get('tag') ?? '';
    if (!repo) throw invalid('repository name must have at least one component');
    await images.tag(rec.id, tag ? `${repo}:${tag}` : repo);
    noContent(ctx.res, 201);
  });

  r.add('DELETE', '/images/{name:.*}', async (ctx) => {
    const out = await images.remove(ctx.params.name ?? '', { force: boolParam(ctx.query, 'force'), noPrune: boolParam(ctx.query, 'noprune'), usedBy });
    if (out.some((e) => e.Deleted)) await engine.collectGarbage();
    sendJson(ctx.res, 200, out);
  });
}

function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.') + '$');
  return re.test(s);
}
