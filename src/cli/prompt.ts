// The docker CLI's "Are you sure you want to continue? [y/N]" prompt: one line from stdin.
export async function confirm(question: string): Promise<boolean> {
  process.stdout.write(`${question} [y/N] `);
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (b: Buffer): void => {
      buf += b.toString();
      if (buf.includes('\n')) finish();
    };
    const finish = (): void => {
      process.stdin.off('data', onData);
      process.stdin.pause();
      resolve(buf);
    };
    process.stdin.on('data', onData);
    process.stdin.once('end', finish);
    process.stdin.resume();
  });
  return /^y(es)?$/i.test(line.trim());
}
