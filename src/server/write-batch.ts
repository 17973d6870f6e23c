/** Frames sent to one client within one turn of the event loop leave in one
 *  write: the first send of a turn corks the client's socket, and the check
 *  phase of the same turn (`setImmediate`) uncorks every socket held. A
 *  replication acknowledgement completes many commands at once, each with a
 *  result for its sender and a delta for every follower of its session;
 *  without this every frame was its own `writev` system call (16% of the
 *  primary's CPU under load, bench/api).
 *
 *  Nothing waits longer than the current turn, and corking nests (ws corks
 *  around each frame itself), so the order of frames and the bytes are
 *  unchanged. It does not know WebSockets: anything with cork/uncork works. */

export interface Corkable {
  cork(): void;
  uncork(): void;
}

export class WriteBatcher {
  readonly #held = new Set<Corkable>();
  #scheduled = false;
  readonly #release = (): void => this.flush();

  /** Holds `stream`'s writes until the end of this turn (once per turn per stream). */
  hold(stream: Corkable): void {
    if (this.#held.has(stream)) return;
    stream.cork();
    this.#held.add(stream);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#release);
    }
  }

  /** Writes out everything held now. */
  flush(): void {
    this.#scheduled = false;
    const held = [...this.#held];
    this.#held.clear();
    for (const stream of held) stream.uncork();
  }

  /** Streams held until the end of this turn. */
  get heldCount(): number {
    return this.#held.size;
  }
}
