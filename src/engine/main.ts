#!/usr/bin/env -S node --max-semi-space-size=2 --enable-source-maps
// berthd entry point.
import { runDaemon } from './daemon.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  const pre = process.argv.find((a) => a.startsWith(`${name}=`));
  return pre?.slice(name.length + 1);
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(
    'Usage: berthd [--data-root DIR] [--exec-root DIR] [-H unix:///path/berth.sock]\n\n' +
      'Serve the Docker Engine API for berth. Defaults: --data-root /var/lib/berth (BERTH_ROOT),\n' +
      '--exec-root /run/berth (BERTH_RUN), socket <exec-root>/berth.sock.\n',
  );
  process.exit(0);
}

runDaemon({
  ...(arg('--data-root') ? { dataRoot: arg('--data-root') } : {}),
  ...(arg('--exec-root') ?? arg('--run-root') ? { runRoot: arg('--exec-root') ?? arg('--run-root') } : {}),
  ...(arg('--host') ?? arg('-H') ? { socket: (arg('--host') ?? arg('-H') ?? '').replace(/^unix:\/\//, '') } : {}),
}).catch((e: unknown) => {
  process.stderr.write(`berthd: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
