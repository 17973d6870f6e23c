/** The store's index by key: an open-addressing hash table over the hash the
 *  entries already carry for the digest. Pure; knows nothing of values,
 *  timestamps or the digest itself.
 *
 *  Why not a Map: a catch-up inserts a million keys that are not there yet, and
 *  a Map.get of a missing key in a million-entry Map walks a bucket chain and
 *  compares against the keys on it (a cache miss each); profiled, that lookup
 *  was the largest single cost of the secondary's catch-up. Here a slot holds
 *  the key hash and an entry number side by side in one Int32Array, so a miss
 *  costs one cache line, and the table is no garbage-collected object at all.
 *
 *  - Linear probing at most half full; deletion shifts the probe run back
 *    (no tombstones), so a lookup stops at the first empty slot.
 *  - Entries live in a dense array, numbered from 1 (0 marks an empty slot);
 *    numbers of deleted entries are reused. */

import { assert } from './assert.ts';

/** What the index needs of an entry: its key and a 32-bit hash of it (any int32 or uint32). */
export interface KeyedEntry {
  readonly key: string;
  readonly hashLow: number;
}

/** Slots of a new or cleared index (a power of two). */
const SLOTS_INITIAL = 16;

export class KeyIndex<E extends KeyedEntry> {
  /** Two lanes per slot: [hash, entry number] (0 = empty). */
  #table = new Int32Array(SLOTS_INITIAL * 2);
  #mask = SLOTS_INITIAL - 1;
  /** entries[n - 1] is entry number n; undefined where one was deleted. */
  #entries: (E | undefined)[] = [];
  /** Entry numbers free for reuse. */
  #free: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The entry with `key`, whose hash is `hash` (the same hash the entry carries). */
  get(key: string, hash: number): E | undefined {
    const table = this.#table;
    const mask = this.#mask;
    hash |= 0;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const number = table[slot * 2 + 1]!;
      if (number === 0) return undefined;
      if (table[slot * 2] === hash) {
        const entry = this.#entries[number - 1]!;
        if (entry.key === key) return entry;
      }
    }
  }

  /** Adds `entry`, whose key must not be in the index. */
  add(entry: E): void {
    if ((this.#size + 1) * 2 > this.#mask + 1) this.#grow();
    let number = this.#free.pop();
    if (number === undefined) number = this.#entries.push(entry);
    else this.#entries[number - 1] = entry;
    const hash = entry.hashLow | 0;
    const table = this.#table;
    const mask = this.#mask;
    let slot = hash & mask;
    while (table[slot * 2 + 1] !== 0) slot = (slot + 1) & mask;
    table[slot * 2] = hash;
    table[slot * 2 + 1] = number;
    this.#size++;
  }

  /** Removes `entry` (the very object that was added); false if it is not in the index. */
  delete(entry: E): boolean {
    const table = this.#table;
    const mask = this.#mask;
    const hash = entry.hashLow | 0;
    let slot = hash & mask;
    for (;; slot = (slot + 1) & mask) {
      const number = table[slot * 2 + 1]!;
      if (number === 0) return false;
      if (table[slot * 2] === hash && this.#entries[number - 1] === entry) {
        this.#entries[number - 1] = undefined;
        this.#free.push(number);
        break;
      }
    }
    // Backward shift: move later members of the probe run into the hole when their home allows.
    for (let next = (slot + 1) & mask; table[next * 2 + 1] !== 0; next = (next + 1) & mask) {
      const home = table[next * 2]! & mask;
      // The entry at `next` may fill `slot` unless its home lies cyclically in (slot, next].
      const homeBetween = slot <= next ? home > slot && home <= next : home > slot || home <= next;
      if (homeBetween) continue;
      table[slot * 2] = table[next * 2]!;
      table[slot * 2 + 1] = table[next * 2 + 1]!;
      slot = next;
    }
    table[slot * 2] = 0;
    table[slot * 2 + 1] = 0;
    this.#size--;
    if (this.#size === 0) this.clear(); // drop the free list and a large table
    return true;
  }

  /** Every entry, in no particular order. */
  *values(): IterableIterator<E> {
    for (const entry of this.#entries) if (entry !== undefined) yield entry;
  }

  clear(): void {
    this.#table = new Int32Array(SLOTS_INITIAL * 2);
    this.#mask = SLOTS_INITIAL - 1;
    this.#entries = [];
    this.#free = [];
    this.#size = 0;
  }

  /** Doubles the slots; rehashing needs only the table itself (hashes are stored), not the entries. */
  #grow(): void {
    const old = this.#table;
    const slots = (this.#mask + 1) * 2;
    assert(slots <= 2 ** 30, `key index cannot grow past ${slots / 2} slots`);
    const table = new Int32Array(slots * 2);
    const mask = slots - 1;
    for (let at = 0; at < old.length; at += 2) {
      const number = old[at + 1]!;
      if (number === 0) continue;
      const hash = old[at]!;
      let slot = hash & mask;
      while (table[slot * 2 + 1] !== 0) slot = (slot + 1) & mask;
      table[slot * 2] = hash;
      table[slot * 2 + 1] = number;
    }
    this.#table = table;
    this.#mask = mask;
  }
}
