// Container records: one JSON file per container (temp + fsync + rename), held in memory.
// Names are unique; any unique ID prefix or a name resolves.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, invalid, notFound } from '../core/errors.ts';
import { ensureDir, readJson, writeJsonAtomic } from '../util/fs.ts';
import { assertTransition } from './state-machine.ts';
import type { ContainerRecord, ContainerState } from './types.ts';

export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, string>();
  constructor(readonly root: string) {}

  dirOf(id: string): string {
    return join(this.root, id);
  }

  async load(): Promise<{ incomplete: string[] }> {
    await ensureDir(this.root);
    const incomplete: string[] = [];
    for (const id of await readdir(this.root)) {
      if (!/^[a-f0-9]{64}$/.test(id)) continue;
      const rec = await readJson<ContainerRecord>(join(this.root, id, 'container.json'));
      if (!rec) {
        incomplete.push(id);
        continue;
      }
      this.byId.set(id, rec);
      this.byName.set(rec.name, id);
    }
    return { incomplete };
  }

  list(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  get(id: string): ContainerRecord | undefined {
    return this.byId.get(id);
  }

  /** Docker's lookup order: full ID, exact name, unique ID prefix. */
  resolve(idOrName: string): ContainerRecord {
    const key = idOrName.startsWith('/') ? idOrName.slice(1) : idOrName;
    const full = this.byId.get(key);
    if (full) return full;
    const byName = this.byName.get(key);
    if (byName) {
      const r = this.byId.get(byName);
      if (r) return r;
    }
    if (key.length > 0 && /^[a-f0-9]+$/.test(key)) {
      const matches = [...this.byId.keys()].filter((k) => k.startsWith(key));
      if (matches.length > 1) throw invalid(`Multiple IDs found with provided prefix: ${idOrName}`);
      const r = matches[0] === undefined ? undefined : this.byId.get(matches[0]);
      if (r) return r;
    }
    throw notFound(`No such container: ${idOrName}`);
  }

  reserveName(name: string, id: string): void {
    const holder = this.byName.get(name);
    if (holder !== undefined && holder !== id)
      throw conflict(`Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
    this.byName.set(name, id);
  }

  releaseName(name: string, id: string): void {
    if (this.byName.get(name) === id) this.byName.delete(name);
  }

  async save(rec: ContainerRecord): Promise<ContainerRecord> {
    await ensureDir(this.dirOf(rec.id));
    await writeJsonAtomic(join(this.dirOf(rec.id), 'container.json'), rec);
    this.byId.set(rec.id, rec);
    this.byName.set(rec.name, rec.id);
    return rec;
  }

  async setState(id: string, patch: Partial<ContainerState>): Promise<ContainerRecord> {
    const rec = this.byId.get(id);
    if (!rec) throw notFound(`No such container: ${id}`);
    if (patch.status !== undefined && patch.status !== rec.state.status) assertTransition(id, rec.state.status, patch.status);
    return this.save({ ...rec, state: { ...rec.state, ...patch } });
  }

  /**
   * For a fact that has already happened (the process exited): the record in memory moves on
   * even when it cannot be written (a full disk), so the engine goes on serving it; the failure
   * is returned for the caller to report, and the next save writes the whole record again.
   */
  async recordState(id: string, patch: Partial<ContainerState>): Promise<{ readonly rec: ContainerRecord; readonly unsaved?: unknown }> {
    const rec = this.byId.get(id);
    if (!rec) throw notFound(`No such container: ${id}`);
    if (patch.status !== undefined && patch.status !== rec.state.status) assertTransition(id, rec.state.status, patch.status);
    const next = { ...rec, state: { ...rec.state, ...patch } };
    try {
      return { rec: await this.save(next) };
    } catch (e) {
      this.byId.set(id, next);
      return { rec: next, unsaved: e };
    }
  }

  async rename(id: string, name: string): Promise<ContainerRecord> {
    const rec = this.byId.get(id);
    if (!rec) throw notFound(`No such container: ${id}`);
    this.reserveName(name, id);
    const next = await this.save({ ...rec, name });
    this.releaseName(rec.name, id);
    this.byName.set(name, id);
    return next;
  }

  async remove(id: string): Promise<void> {
    const rec = this.byId.get(id);
    if (rec) this.releaseName(rec.name, id);
    this.byId.delete(id);
    await rm(this.dirOf(id), { recursive: true, force: true });
  }
}
