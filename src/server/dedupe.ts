/** The idempotency window: a command retried with the same id gets the first
 *  outcome instead of running again, and a retry that arrives while the
 *  first is still running waits for it. `MemoryCommandDedupe` holds the
 *  window in this process (bounded LRU with a TTL); a later issue replaces it
 *  with a replicated one behind the same interface. It does not know commands. */

import type { WriteOptions } from './state-node.ts';

/** What the in-memory window hands `execute`: it records nothing. */
const NO_MARKER: WriteOptions = {};

/** What the window answers for one run. */
export type DedupeAnswer<T> =
  | { readonly kind: 'first'; readonly outcome: T }
  | { readonly kind: 'duplicate'; readonly outcome: T }
  /** The id was used before with a different body: nothing ran. */
  | { readonly kind: 'conflict' };

export interface CommandDedupe<T> {
  /**
   * Runs `execute` once per `key` within the window. `fingerprint` identifies
   * the request body: a retry must repeat it. `keep(outcome)` decides whether
   * an outcome is remembered (transient failures are not, so their retry runs again).
   * `execute` gets the options to write its updates with: a replicated window
   * adds its marker there, so it travels in the same turn (replicated-dedupe.ts).
   */
  run(key: string, fingerprint: string, execute: (writeOptions: WriteOptions) => Promise<T>, keep: (outcome: T) => boolean): Promise<DedupeAnswer<T>>;
  /** Entries held (finished and in flight). */
  readonly size: number;
}

interface Entry<T> {
  readonly key: string;
  readonly fingerprint: string;
  /** Set while the first run is in flight. */
  pending: Promise<T> | undefined;
  outcome: T | undefined;
  expiresAtMs: number;
}

/** Dropped entries are compacted out of the queue once at least this many and half of it. */
const COMPACT_AFTER = 1024;

/**
 * In-memory window: at most `entriesMax` entries (or as many as are in
 * flight, if more), each remembered `ttlMs` after it finished. Finished
 * entries are placed in a queue in finishing order, which is also expiry
 * order (one TTL for all); expiry and eviction both take from its front, the
 * oldest first. In-flight entries are not in it: they are bounded by the
 * commands running, and leave the map if their outcome is not kept. A queue,
 * not the map's own order: deleting from the front of a JS Map and iterating
 * it again walks every deleted slot until the map rehashes, which under load
 * cost more than the rest of the command.
 */
export class MemoryCommandDedupe<T> implements CommandDedupe<T> {
  readonly #entries = new Map<string, Entry<T>>();
  /** Finished entries in finishing order; one gone from the map since is stale and skipped. */
  #order: Entry<T>[] = [];
  /** Index in #order of the oldest entry not yet dropped from it. */
  #head = 0;

  constructor(
    readonly limits: { readonly entriesMax: number; readonly ttlMs: number },
    readonly clock: { nowMs(): number },
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  async run(key: string, fingerprint: string, execute: (writeOptions: WriteOptions) => Promise<T>, keep: (outcome: T) => boolean): Promise<DedupeAnswer<T>> {
    this.#expire(this.clock.nowMs());
    const held = this.#entries.get(key);
    if (held !== undefined) {
      if (held.fingerprint !== fingerprint) return { kind: 'conflict' };
      if (held.outcome !== undefined) return { kind: 'duplicate', outcome: held.outcome };
      return { kind: 'duplicate', outcome: await held.pending! };
    }
    const entry: Entry<T> = { key, fingerprint, pending: undefined, outcome: undefined, expiresAtMs: Number.MAX_SAFE_INTEGER };
    const pending = execute(NO_MARKER);
    entry.pending = pending;
    this.#entries.set(key, entry);
    this.#evictOverLimit();
    let outcome: T;
    try {
      outcome = await pending;
    } catch (error) {
      this.#entries.delete(key); // in flight, so still its own: nothing evicts or expires a running entry
      throw error;
    }
    this.#settle(key, entry, outcome, keep(outcome));
    return { kind: 'first', outcome };
  }

  /** Only a run in flight reaches here, and nothing removes an entry in flight but its own failure (which does not). */
  #settle(key: string, entry: Entry<T>, outcome: T, kept: boolean): void {
    if (!kept) {
      this.#entries.delete(key);
      return;
    }
    entry.pending = undefined;
    entry.outcome = outcome;
    entry.expiresAtMs = this.clock.nowMs() + this.limits.ttlMs;
    // Placed once, when it finishes: an entry in the queue is stale exactly when the map no longer holds it.
    this.#order.push(entry);
    this.#evictOverLimit();
  }

  /** The oldest finished entry still held, or undefined; stale ones in front of it are dropped. */
  #oldest(): Entry<T> | undefined {
    const order = this.#order;
    while (this.#head < order.length) {
      const entry = order[this.#head]!;
      if (this.#entries.get(entry.key) === entry) return entry;
      this.#head++;
    }
    return undefined;
  }

  #drop(): void {
    this.#head++;
    if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Drops the oldest finished entries while over the limit; in-flight ones stay. */
  #evictOverLimit(): void {
    while (this.#entries.size > this.limits.entriesMax) {
      const oldest = this.#oldest();
      if (oldest === undefined) return;
      this.#entries.delete(oldest.key);
      this.#drop();
    }
  }

  /** Drops finished entries past their time. */
  #expire(nowMs: number): void {
    for (let oldest = this.#oldest(); oldest !== undefined && oldest.expiresAtMs <= nowMs; oldest = this.#oldest()) {
      this.#entries.delete(oldest.key);
      this.#drop();
    }
  }
}
