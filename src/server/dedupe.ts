/** The idempotency window: a command retried with the same id gets the first
 *  outcome instead of running again, and a retry that arrives while the
 *  first is still running waits for it. `MemoryCommandDedupe` holds the
 *  window in this process (bounded LRU with a TTL); a later issue replaces it
 *  with a replicated one behind the same interface. It does not know commands. */

import type { WriteOptions } from './state-node.ts';

/** What the in-memory window hands `execute`: it writes no marker. */
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
  readonly fingerprint: string;
  /** Set while the first run is in flight. */
  pending: Promise<T> | undefined;
  outcome: T | undefined;
  expiresAtMs: number;
}

/**
 * In-memory window: at most `entriesMax` entries, each remembered `ttlMs`
 * after it finished. Map order is insertion order, which is also expiry
 * order (one TTL for all), so expiry and eviction both take from the front.
 * An evicted in-flight entry still answers the callers already waiting on it.
 */
export class MemoryCommandDedupe<T> implements CommandDedupe<T> {
  readonly #entries = new Map<string, Entry<T>>();

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
    const entry: Entry<T> = { fingerprint, pending: undefined, outcome: undefined, expiresAtMs: Number.MAX_SAFE_INTEGER };
    const pending = execute(NO_MARKER);
    entry.pending = pending;
    this.#entries.set(key, entry);
    while (this.#entries.size > this.limits.entriesMax) this.#entries.delete(this.#entries.keys().next().value!);
    let outcome: T;
    try {
      outcome = await pending;
    } catch (error) {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
      throw error;
    }
    this.#settle(key, entry, outcome, keep(outcome));
    return { kind: 'first', outcome };
  }

  #settle(key: string, entry: Entry<T>, outcome: T, kept: boolean): void {
    if (this.#entries.get(key) !== entry) return; // evicted meanwhile
    // Re-inserted at the back so the map stays in expiry order.
    this.#entries.delete(key);
    if (!kept) return;
    entry.pending = undefined;
    entry.outcome = outcome;
    entry.expiresAtMs = this.clock.nowMs() + this.limits.ttlMs;
    this.#entries.set(key, entry);
  }

  #expire(nowMs: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.pending !== undefined) continue; // in flight: bounded by the commands running
      if (entry.expiresAtMs > nowMs) return;
      this.#entries.delete(key);
    }
  }
}
