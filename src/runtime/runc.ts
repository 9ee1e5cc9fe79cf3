// The runc driver: every runc call goes through here, with berth's private --root.
import { run } from '../util/exec.ts';
import { EngineError, notFound } from '../core/errors.ts';

export interface RuncState { id: string; pid: number; status: 'creating' | 'created' | 'running' | 'paused' | 'stopped'; bundle: string }

export class Runc {
  constructor(readonly binary: string, readonly root: string) {}

  private async call(args: string[]): Promise<string> {
    const r = await run(this.binary, ['--root', this.root, ...args]);
    if (r.code !== 0) {
      const msg = r.stderr.trim().replace(/^time="[^"]*" level=\w+ msg="(.*)"$/s, '$1');
      if (/does not exist/.test(msg)) throw notFound(msg);
      throw new EngineError('system', `runc ${args[0]}: ${msg || `exit status ${r.code}`}`);
    }
    return r.stdout;
  }

  start(id: string): Promise<string> {
    return this.call(['start', id]);
  }
  kill(id: string, signal: string, all = false): Promise<string> {
    return this.call(['kill', ...(all ? ['--all'] : []), id, signal]);
  }
  pause(id: string): Promise<string> {
    return this.call(['pause', id]);
  }
  resume(id: string): Promise<string> {
    return this.call(['resume', id]);
  }
  async delete(id: string, force = false): Promise<void> {
    try {
      await this.call(['delete', ...(force ? ['--force'] : []), id]);
    } catch (e) {
      if (!(e instanceof EngineError && e.kind === 'not-found')) throw e;
    }
  }
  async state(id: string): Promise<RuncState | undefined> {
    try {
      return JSON.parse(await this.call(['state', id])) as RuncState;
    } catch (e) {
      if (e instanceof EngineError && e.kind === 'not-found') return undefined;
      throw e;
    }
  }
  async ps(id: string): Promise<number[]> {
    return JSON.parse(await this.call(['ps', '--format', 'json', id])) as number[];
  }
}
