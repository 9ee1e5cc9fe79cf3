// Run a system program and collect its output; errors carry the exit status and stderr.
import { execFile } from 'node:child_process';

export interface ExecResult { stdout: string; stderr: string; code: number }

export function run(file: string, args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args as string[], { env: opts.env, cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ stdout: String(stdout), stderr: String(stderr), code });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
