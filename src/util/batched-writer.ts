// Writes of a stream's small chunks gathered into batches, one batch written (on the thread
// pool) while the next is gathered: a write per 16–64 KiB chunk, each awaited, made ingesting or
// unpacking a large file several times slower than the disk.

export class BatchedWriter {
  private batch: Uint8Array[] = [];
  private batched = 0;
  private writing: Promise<void> | undefined;

  /** `write` must write all of `data` (looping on short writes itself). */
  constructor(
    private readonly write: (data: Uint8Array) => Promise<void>,
    private readonly batchBytes = 1024 * 1024,
  ) {}

  /** Take a chunk (kept, not copied, until written); resolves at once unless a batch is due. */
  async add(chunk: Uint8Array): Promise<void> {
    this.batch.push(chunk);
    this.batched += chunk.byteLength;
    if (this.batched >= this.batchBytes) await this.flush();
  }

  /** Write what is left and wait for every write; a write's error surfaces here or in add. */
  async finish(): Promise<void> {
    if (this.batched > 0) await this.flush();
    await this.writing;
  }

  /** Wait for a write in flight, whatever its outcome (before closing the file it writes to). */
  async settle(): Promise<void> {
    await this.writing?.catch(() => undefined);
  }

  private async flush(): Promise<void> {
    const data = this.batch.length === 1 ? (this.batch[0] as Uint8Array) : Buffer.concat(this.batch, this.batched);
    this.batch = [];
    this.batched = 0;
    if (this.writing) await this.writing;
    this.writing = this.write(data);
    this.writing.catch(() => undefined); // awaited by the next flush or by finish
  }
}
