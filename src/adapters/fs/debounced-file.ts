/**
 * A file a node rewrites as its contents change: written atomically (atomic.ts) at most every
 * `everyMs` while they change, one write at a time, and a last time on close. A failed write
 * is logged and tried again at the next change or close; it never rejects. What the bandwidth
 * count (bandwidth.json) and the DHT store (dht-store.bin) are kept with.
 */
import { type AtomicWriteOptions, writeFileAtomic } from './atomic.ts'

export class DebouncedFile {
  readonly path: string
  private readonly everyMs: number
  private readonly contents: () => Uint8Array | string
  private readonly log: (line: string) => void
  private readonly options: AtomicWriteOptions
  private dirty = false
  private closed = false
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> = Promise.resolve()

  /** `contents` is asked for the bytes at each write. */
  constructor(
    path: string,
    everyMs: number,
    contents: () => Uint8Array | string,
    log: (line: string) => void,
    options: AtomicWriteOptions = {},
  ) {
    this.path = path
    this.everyMs = everyMs
    this.contents = contents
    this.log = log
    this.options = options
  }

  /** The contents changed: a write within `everyMs` (none after {@link close}). */
  changed(): void {
    this.dirty = true
    if (this.closed || this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush()
    }, this.everyMs)
    this.timer.unref()
  }

  /** Nothing to write until the next change (the contents were just read from the file). */
  clean(): void {
    this.dirty = false
  }

  /** Writes now if the contents changed since the last write. Never rejects. */
  flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return
      this.dirty = false
      try {
        await writeFileAtomic(this.path, this.contents(), this.options)
      } catch (e) {
        this.dirty = true
        this.log(`cannot write ${this.path}: ${(e as Error).message}`)
      }
    })
    return this.writing
  }

  /** Stops the timer and writes a last time; later changes are not written. */
  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    this.timer = undefined
    await this.flush()
  }
}
