/** The element store: `key → { value, ts }` with tombstones, indexed by key,
 *  by session, by timestamp and by digest bucket. It applies state, newest
 *  timestamp wins; it does not know about replication, roles or the write gate.
 *
 *  - By key: an open-addressing table over the key hash the digest needs anyway
 *    (key-index.ts: a missing key costs one cache line, which a catch-up's
 *    million inserts feel).
 *  - By session: `s/{session}/…` entries on an intrusive list per session (no
 *    per-session hash table: a million elements in 100,000 sessions would
 *    otherwise carry 100,000 Sets).
 *  - By timestamp: an intrusive doubly linked list sorted by ts. New writes
 *    carry the newest timestamps, so an insert walks a step or two back from
 *    the tail; "changed since ts" walks back from the tail over the changes only.
 *  - By digest bucket: a singly linked list per leaf bucket, so a sync check can
 *    list a differing bucket's (key, ts) pairs without scanning the store.
 *
 *  Tombstones stay until collected: `dueTombstones` lists those old enough,
 *  `removeCollected` drops listed (key, ts) pairs and raises `collectedTsMax`,
 *  the bound a write creating a missing key must exceed, so a collected delete
 *  is never undone by an older write. Who collects when is the primary's
 *  business (replication/primary.ts); two stores given the same lists agree.
 */

import { assert } from './assert.ts';
import type { Timestamp } from './clock.ts';
import { Digest, type DigestShape, type KeyHash, hashKey, hashKeyLow } from './digest.ts';
import { KeyIndex } from './key-index.ts';
import { sessionOfKey } from './keys.ts';
import type { JsonValue } from './value.ts';
import { JsonText, type StoredValue } from './json-text.ts';

/** One element as readers see it. A tombstone has `deleted: true` and `value: null`. */
export interface Element {
  readonly key: string;
  /** The value (JSON text held by the store is parsed on first read). */
  readonly value: JsonValue;
  /** The value as stored: JSON text stays text, so it can be sent on without re-encoding. */
  readonly storedValue: StoredValue;
  readonly ts: Timestamp;
  readonly deleted: boolean;
}

/**
 * An element plus one slot the write gate owns: the gate keeps its per-element
 * bookkeeping there, so a write costs one key lookup instead of one per map.
 */
export interface ElementHandle extends Element {
  /** Owned by the write gate; the store only reads it (a busy element is never collected). */
  writer: unknown;
  /** True once the store dropped this element (tombstone collection, clear). */
  readonly removed: boolean;
}

/** The head of one session's intrusive list of entries. */
interface SessionList {
  readonly session: string;
  first: Entry | undefined;
  size: number;
}

/**
 * Entry.flags: a tombstone; dropped from the store (collected or cleared);
 * valueSlot is JSON text, whose UTF-8 size is then kept in the bits from
 * TEXT_BYTES_SHIFT up (values are at most 1 MiB; longer text stays a JsonText).
 */
const DELETED = 1;
const REMOVED = 2;
const TEXT = 4;
const TEXT_BYTES_SHIFT = 3;
const TEXT_BYTES_MAX = 2 ** 26;

/** Timestamps are split at this power of two into two small integers (see Entry). */
const TS_SPLIT = 2 ** 24;

/**
 * One element. Kept small because a store holds millions and a catch-up
 * creates them all at once (docs/ARCHITECTURE.md, "The store entry"): every
 * field is a small integer or a reference, so V8 keeps them in the object
 * itself. A number field holding a non-small integer (a timestamp, an
 * unsigned 32-bit hash) would cost a separate heap number per element, which
 * the garbage collector then copies and marks: so the key hash is held as
 * signed 32-bit lanes and the timestamp as two halves. The session is held
 * neither as a string nor as its list: only the neighbours on that list.
 *
 * Entries are made by `newEntry` from an object literal, never by `new`: V8
 * tracks an allocation site for a literal, sees that nearly all its objects
 * survive, and from then on allocates them straight in the old generation
 * (pretenuring); a class constructor has no such site, so every entry was
 * copied by the young-generation collector once or twice. The class only
 * supplies the prototype (the accessors below) and the field types.
 */
class Entry implements ElementHandle, KeyHash {
  declare readonly key: string;
  /** The key's hash lanes as signed 32-bit integers (the digest only XORs and masks them). */
  declare readonly hashLow: number;
  declare readonly hashHigh: number;
  /** ts = tsHigh · 2^24 + tsLow: both halves stay small integers for any safe-integer ts. */
  declare tsHigh: number;
  declare tsLow: number;
  /**
   * The value: a plain JSON value, or JSON text. JSON text is held as its bare
   * string (flag TEXT), not as the JsonText it arrived in: one object less per
   * element for the garbage collector to copy and mark. `value` wraps it again
   * (and keeps the parsed result); `storedValue` wraps it for the one reader.
   */
  declare valueSlot: StoredValue;
  /** DELETED, REMOVED, TEXT, and the text's size. */
  declare flags: number;
  declare writer: unknown;
  /** Next entry of the same digest bucket (a singly linked list: inserting touches only the head slot). */
  declare bucketNext: Entry | undefined;
  declare older: Entry | undefined;
  declare newer: Entry | undefined;
  /**
   * The neighbours on the session's list (undefined for keys outside a session).
   * The list itself is not kept here: only removal needs it (rare: tombstone
   * collection), and it finds it by the key's session; 8 bytes per element less.
   */
  declare sessionPrev: Entry | undefined;
  declare sessionNext: Entry | undefined;

  private constructor() {
    assert(false, 'entries are made by newEntry');
  }

  get ts(): Timestamp {
    return this.tsHigh * TS_SPLIT + this.tsLow;
  }

  set ts(ts: Timestamp) {
    this.tsHigh = Math.floor(ts / TS_SPLIT);
    this.tsLow = ts - this.tsHigh * TS_SPLIT;
  }

  get deleted(): boolean {
    return (this.flags & DELETED) !== 0;
  }

  set deleted(deleted: boolean) {
    this.flags = deleted ? this.flags | DELETED : this.flags & ~DELETED;
  }

  get removed(): boolean {
    return (this.flags & REMOVED) !== 0;
  }

  get storedValue(): StoredValue {
    const slot = this.valueSlot;
    // A fresh wrapper per read: the replication encoders read the text once and drop it.
    return (this.flags & TEXT) === 0 ? slot : new JsonText(slot as string, this.flags >>> TEXT_BYTES_SHIFT);
  }

  set storedValue(value: StoredValue) {
    if (value instanceof JsonText) this.holdText(value.text, value.byteLength);
    else {
      this.valueSlot = value;
      this.flags &= DELETED | REMOVED;
    }
  }

  /** Holds JSON text (validated) as its bare string and UTF-8 size: the storedValue setter for a JsonText, without one. */
  holdText(text: string, textBytes: number): void {
    const flags = this.flags & (DELETED | REMOVED);
    if (textBytes < TEXT_BYTES_MAX) {
      this.valueSlot = text;
      this.flags = flags | TEXT | (textBytes << TEXT_BYTES_SHIFT);
    } else {
      this.valueSlot = new JsonText(text, textBytes);
      this.flags = flags;
    }
  }

  get value(): JsonValue {
    let slot = this.valueSlot;
    if ((this.flags & TEXT) !== 0) {
      // Read by value once: kept as a JsonText from now on, which keeps the parsed value beside the text.
      this.valueSlot = slot = new JsonText(slot as string, this.flags >>> TEXT_BYTES_SHIFT);
      this.flags &= DELETED | REMOVED;
    }
    return slot instanceof JsonText ? slot.value() : slot;
  }
}

/** A new entry (see Entry: one object literal site, so V8 can pretenure entries). */
function newEntry(key: string, hash: KeyHash, value: StoredValue, ts: Timestamp, deleted: boolean, bucketNext: Entry | undefined): Entry {
  const tsHigh = Math.floor(ts / TS_SPLIT);
  const entry = {
    __proto__: Entry.prototype,
    key,
    hashLow: hash.hashLow | 0,
    hashHigh: hash.hashHigh | 0,
    tsHigh,
    tsLow: ts - tsHigh * TS_SPLIT,
    valueSlot: null,
    flags: deleted ? DELETED : 0,
    writer: undefined,
    bucketNext,
    older: undefined,
    newer: undefined,
    sessionPrev: undefined,
    sessionNext: undefined,
  } as unknown as Entry;
  entry.storedValue = value;
  return entry;
}

/** What `apply` did. */
export type ApplyOutcome = 'applied' | 'stale' | 'full';

export interface ElementStoreOptions {
  /** Most elements (tombstones included) the store will hold; an insert beyond answers 'full'. */
  readonly elementsMax: number;
  readonly digest?: DigestShape;
}

export const ELEMENTS_MAX_DEFAULT = 4_000_000;

/**
 * The store. Guarantees: per key, `apply` only ever raises the timestamp
 * (newer wins, equal or older is 'stale' and changes nothing), so applying the
 * same updates in any order, any number of times, gives the same state; every
 * index and the digest are updated in the same call.
 */
export class ElementStore {
  readonly digest: Digest;
  readonly elementsMax: number;
  readonly #byKey = new KeyIndex<Entry>();
  readonly #bySession = new Map<string, SessionList>();
  /**
   * The session list the last insert used. Inserts come in runs of one session (a
   * join writes several of its elements; a catch-up streams them in that order):
   * a key in the same session then needs no substring and no Map lookup.
   */
  #lastList: SessionList | undefined = undefined;
  /** The first entry of each digest leaf bucket's list. */
  readonly #buckets: (Entry | undefined)[];
  readonly #tombstones = new Set<Entry>();
  #oldest: Entry | undefined = undefined;
  #newest: Entry | undefined = undefined;
  /** Where the ts list was last linked away from its newest end: where the next such link likely goes. */
  #finger: Entry | undefined = undefined;
  /** The next entry of the oldest-first walk (startWalk); moved on when that entry is unlinked. */
  #walk: Entry | undefined = undefined;
  /** Tombstones at or below this ts were collected: a write to a missing key at or below it is stale. */
  #collectedTsMax: Timestamp = 0;
  /** Elements removed by collection since start (tombstones, and live ones a repair listed): a metric. */
  collectedCount = 0;
  /**
   * Called after every write that changed the store (insert, update,
   * tombstone), in apply order: the change feed subscriptions are built on.
   * Not called for tombstone collection (nothing a reader sees changes).
   */
  onApplied: ((element: Element) => void) | undefined = undefined;

  constructor(options: ElementStoreOptions = { elementsMax: ELEMENTS_MAX_DEFAULT }) {
    assert(Number.isInteger(options.elementsMax) && options.elementsMax > 0, `elementsMax ${options.elementsMax} must be a positive integer`);
    this.elementsMax = options.elementsMax;
    this.digest = new Digest(options.digest);
    this.#buckets = new Array<Entry | undefined>(this.digest.leafCount).fill(undefined);
  }

  /** Elements held, tombstones included. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Tombstones held. */
  get tombstoneCount(): number {
    return this.#tombstones.size;
  }

  /** Greatest timestamp in the store (0 when empty). */
  get newestTs(): Timestamp {
    return this.#newest === undefined ? 0 : this.#newest.ts;
  }

  /** The element at `key`, tombstone included, or undefined. */
  get(key: string): Element | undefined {
    return this.#byKey.get(key, hashKeyLow(key));
  }

  /** The element at `key` with its write-gate slot, or undefined. */
  handle(key: string): ElementHandle | undefined {
    return this.#byKey.get(key, hashKeyLow(key));
  }

  /** Whether a write of a missing `key` would be a new element (counts toward elementsMax). */
  has(key: string): boolean {
    return this.#byKey.get(key, hashKeyLow(key)) !== undefined;
  }

  /** A write creating a missing key must be newer than this: the highest collected tombstone ts. */
  get collectedTsMax(): Timestamp {
    return this.#collectedTsMax;
  }

  /**
   * The timestamp a new write to `key` must exceed: the element's ts, or for a
   * missing key the highest collected tombstone ts (0 if none was collected).
   */
  currentTs(key: string): Timestamp {
    const entry = this.#byKey.get(key, hashKeyLow(key));
    return entry === undefined ? this.#collectedTsMax : entry.ts;
  }

  /**
   * Applies `(value, ts)` to `key` if `ts` is newer than what the store holds
   * (see `currentTs`); `deleted` writes a tombstone. Returns 'stale' or 'full'
   * without changing anything otherwise. The caller has validated key and value.
   */
  apply(key: string, value: StoredValue, ts: Timestamp, deleted = false): ApplyOutcome {
    return this.#apply(key, value, undefined, 0, ts, deleted);
  }

  /**
   * `apply` of JSON text given as its string and UTF-8 size, as a catch-up
   * or replicate frame decodes it (messages.ts, ElementColumns): the same as applying
   * `new JsonText(text, textBytes)`, without making one. The caller has
   * validated the text.
   */
  applyText(key: string, text: string, textBytes: number, ts: Timestamp, deleted = false): ApplyOutcome {
    return this.#apply(key, null, text, textBytes, ts, deleted);
  }

  /** `value`, or JSON text when `text` is given. */
  #apply(key: string, value: StoredValue, text: string | undefined, textBytes: number, ts: Timestamp, deleted: boolean): ApplyOutcome {
    // Both lanes at once: most keys applied by key are new (the gate applies known ones by handle).
    const hash = hashKey(key);
    const entry = this.#byKey.get(key, hash.hashLow);
    if (entry === undefined) {
      if (ts <= this.#collectedTsMax) return 'stale';
      if (this.#byKey.size >= this.elementsMax) return 'full';
      // Inserted first: `onApplied?.(insert())` would skip the insert when no one listens.
      const entry = this.#insert(key, hash, value, text, textBytes, ts, deleted);
      this.onApplied?.(entry);
      return 'applied';
    }
    return this.#update(entry, value, text, textBytes, ts, deleted);
  }

  /** `apply` to an element already looked up with `handle`: saves the key lookup. */
  applyToHandle(handle: ElementHandle, value: StoredValue, ts: Timestamp, deleted = false): ApplyOutcome {
    assert(handle instanceof Entry, 'applyToHandle takes a handle from this store');
    if (handle.removed) return this.apply(handle.key, value, ts, deleted);
    return this.#update(handle, value, undefined, 0, ts, deleted);
  }

  #update(entry: Entry, value: StoredValue, text: string | undefined, textBytes: number, ts: Timestamp, deleted: boolean): ApplyOutcome {
    if (ts <= entry.ts) return 'stale';
    this.digest.replace(entry, entry.ts, ts);
    entry.ts = ts;
    if (deleted) entry.storedValue = null;
    else if (text !== undefined) entry.holdText(text, textBytes);
    else entry.storedValue = value;
    if (deleted !== entry.deleted) {
      entry.deleted = deleted;
      if (deleted) this.#tombstones.add(entry);
      else this.#tombstones.delete(entry);
    }
    this.#unlinkTs(entry);
    this.#linkTs(entry);
    this.onApplied?.(entry);
    return 'applied';
  }

  /** Elements of `session` (tombstones included), in no particular order. */
  *sessionElements(session: string): IterableIterator<Element> {
    for (let e = this.#bySession.get(session)?.first; e !== undefined; ) {
      const next = e.sessionNext; // read first: the caller may change the store between steps
      yield e;
      e = next;
    }
  }

  /** Number of elements (tombstones included) held for `session`. */
  sessionSize(session: string): number {
    return this.#bySession.get(session)?.size ?? 0;
  }

  /** Session ids that have at least one element. */
  sessions(): IterableIterator<string> {
    return this.#bySession.keys();
  }

  /**
   * Elements whose ts is greater than `sinceTs`, oldest first. Cost: O(number
   * returned), whatever the store's size.
   */
  changedSince(sinceTs: Timestamp): Element[] {
    const out: Entry[] = [];
    for (let e = this.#newest; e !== undefined && e.ts > sinceTs; e = e.older) out.push(e);
    return out.reverse();
  }

  /** Every element, oldest timestamp first. */
  *entries(): IterableIterator<Element> {
    for (let e = this.#oldest; e !== undefined; e = e.newer) yield e;
  }

  /**
   * Starts a walk over the elements oldest timestamp first, one `walkNext` at a
   * time, that stays valid while the store changes between steps: what a
   * catch-up sends, a frame per event-loop turn, without first gathering a
   * million handles (a pointer chase of ~150 ms before the first frame could go
   * out). Guarantees: every element held from `startWalk` until it is reached,
   * at a ts no newer than at the start, is returned once; an element updated
   * meanwhile moves to the newest end and comes again there (with its new ts); a
   * removed one is skipped. One walk at a time: a new start replaces the old.
   */
  startWalk(): void {
    this.#walk = this.#oldest;
  }

  /** The walk's next element, or undefined when it reached the newest end (the walk is then over). */
  walkNext(): ElementHandle | undefined {
    const entry = this.#walk;
    if (entry !== undefined) this.#walk = entry.newer;
    return entry;
  }

  /** The element `walkNext` would return, without moving on (undefined once the walk is over). */
  peekWalk(): Element | undefined {
    return this.#walk;
  }

  /** Ends the walk early (the secondary went away): the store stops tracking its position. */
  endWalk(): void {
    this.#walk = undefined;
  }

  /** The (key, ts) pairs of one digest leaf bucket: what a sync check compares. */
  bucketElements(bucket: number): readonly Element[] {
    assert(bucket >= 0 && bucket < this.#buckets.length, `bucket ${bucket} is outside 0..${this.#buckets.length - 1}`);
    const out: Element[] = [];
    for (let e = this.#buckets[bucket]; e !== undefined; e = e.bucketNext) out.push(e);
    return out;
  }

  /**
   * Removes up to `limit` tombstones whose ts ≤ `tsMax` (a ts both stores are
   * known to hold). Later writes of those keys must be newer than every
   * collected tombstone. Returns how many were removed. Deterministic: two
   * stores with the same tombstones remove the same ones given the same limit.
   */
  collectTombstones(tsMax: Timestamp, limit = Number.POSITIVE_INFINITY): number {
    return this.removeCollected(this.dueTombstones(tsMax, limit));
  }

  /**
   * The tombstones a collection round may take: ts ≤ `tsMax`, not busy (the
   * gate still refers to a busy one), at most `limit`, oldest first (so a
   * limited round takes the same ones on any store holding the same
   * tombstones). Changes nothing. Cost: O(tombstones held).
   */
  dueTombstones(tsMax: Timestamp, limit = Number.POSITIVE_INFINITY): { key: string; ts: Timestamp }[] {
    const due: Entry[] = [];
    // A tombstone with an update in flight stays: the gate still refers to it.
    for (const entry of this.#tombstones) if (entry.ts <= tsMax && entry.writer === undefined) due.push(entry);
    // Oldest first, so a limited pass removes the same tombstones on both stores.
    if (due.length > limit) due.sort((a, b) => a.ts - b.ts).length = limit;
    return due.map((entry) => ({ key: entry.key, ts: entry.ts }));
  }

  /**
   * Removes each listed key held at exactly the listed ts and not busy, and
   * raises collectedTsMax to the largest listed ts (whether or not its key was
   * removed), so two stores given the same list end with the same elements and
   * the same bound. A key held at another ts is kept: it was written again.
   * (key, ts) names one write, so the element removed is the one the list
   * meant: a tombstone in every collection round; a live element only when a
   * repair lists a key the primary refuses below its own collectedTsMax (it
   * was deleted and collected there). Returns how many were removed.
   */
  removeCollected(entries: readonly { readonly key: string; readonly ts: Timestamp }[]): number {
    let removed = 0;
    let tsMax = this.#collectedTsMax;
    for (const { key, ts } of entries) {
      const entry = this.#byKey.get(key, hashKeyLow(key));
      if (entry !== undefined && entry.ts === ts && entry.writer === undefined) {
        this.#remove(entry);
        removed++;
      }
      if (ts > tsMax) tsMax = ts;
    }
    this.#collectedTsMax = tsMax;
    this.collectedCount += removed;
    return removed;
  }

  /**
   * Raises collectedTsMax to `ts` (no change if it is higher already): how a
   * node adopts its peer's bound, so both judge a write to a missing key alike.
   */
  raiseCollectedTsMax(ts: Timestamp): void {
    if (ts > this.#collectedTsMax) this.#collectedTsMax = ts;
  }

  /**
   * Inserts a missing `key` even at or below collectedTsMax, where `apply`
   * answers 'stale'; 'stale' if the key is held. Only a secondary uses it, for
   * what its primary sends: the primary judged the write against its own
   * bound and holds the element, so this store holds it too (a repair of a
   * tombstone this store collected while the primary kept it, say) rather
   * than differ from the primary for ever.
   */
  restore(key: string, value: StoredValue, ts: Timestamp, deleted: boolean): ApplyOutcome {
    const hash = hashKey(key);
    if (this.#byKey.get(key, hash.hashLow) !== undefined) return 'stale';
    if (this.#byKey.size >= this.elementsMax) return 'full';
    const entry = this.#insert(key, hash, deleted ? null : value, undefined, 0, ts, deleted);
    this.onApplied?.(entry);
    return 'applied';
  }

  /** Drops everything: used when a secondary reloads from a full snapshot. */
  clear(): void {
    for (const entry of this.#byKey.values()) {
      assert(entry.writer === undefined, `clear() while ${entry.key} has an update in flight`);
      entry.flags |= REMOVED;
    }
    this.#byKey.clear();
    this.#bySession.clear();
    this.#lastList = undefined;
    this.#buckets.fill(undefined);
    this.#tombstones.clear();
    this.#oldest = this.#newest = this.#finger = this.#walk = undefined;
    this.#collectedTsMax = 0;
    this.digest.clear();
  }

  #insert(key: string, hash: KeyHash, value: StoredValue, text: string | undefined, textBytes: number, ts: Timestamp, deleted: boolean): Entry {
    const bucket = this.digest.bucketOf(hash);
    const list = this.#sessionListFor(key);
    const entry = newEntry(key, hash, deleted || text !== undefined ? null : value, ts, deleted, this.#buckets[bucket]);
    if (text !== undefined && !deleted) entry.holdText(text, textBytes);
    this.#buckets[bucket] = entry;
    this.#byKey.add(entry);
    if (list !== undefined) {
      entry.sessionNext = list.first;
      if (list.first !== undefined) list.first.sessionPrev = entry;
      list.first = entry;
      list.size++;
    }
    if (deleted) this.#tombstones.add(entry);
    this.digest.toggle(entry, ts);
    this.#linkTs(entry);
    return entry;
  }

  /** The list of `key`'s session, made if it has none; undefined for a key outside any session. */
  #sessionListFor(key: string): SessionList | undefined {
    const last = this.#lastList;
    if (last !== undefined) {
      // `s/{last.session}/…` exactly: sessionOfKey(key) would return last.session.
      const end = 2 + last.session.length;
      if (key.charCodeAt(end) === 0x2f && key.charCodeAt(0) === 0x73 && key.charCodeAt(1) === 0x2f && key.startsWith(last.session, 2)) return last;
    }
    const session = sessionOfKey(key);
    if (session === undefined) return undefined;
    let list = this.#bySession.get(session);
    if (list === undefined) this.#bySession.set(session, (list = { session, first: undefined, size: 0 }));
    this.#lastList = list;
    return list;
  }

  #remove(entry: Entry): void {
    this.#byKey.delete(entry);
    const session = sessionOfKey(entry.key);
    const list = session === undefined ? undefined : this.#bySession.get(session);
    if (list !== undefined) {
      if (entry.sessionPrev === undefined) list.first = entry.sessionNext;
      else entry.sessionPrev.sessionNext = entry.sessionNext;
      if (entry.sessionNext !== undefined) entry.sessionNext.sessionPrev = entry.sessionPrev;
      entry.sessionPrev = entry.sessionNext = undefined;
      if (--list.size === 0) {
        this.#bySession.delete(list.session);
        if (this.#lastList === list) this.#lastList = undefined;
      }
    }
    // A walk along the bucket's list (about elements / leafCount long): removal is rare (tombstone collection).
    const bucket = this.digest.bucketOf(entry);
    if (this.#buckets[bucket] === entry) this.#buckets[bucket] = entry.bucketNext;
    else {
      let before = this.#buckets[bucket]!;
      while (before.bucketNext !== entry) before = before.bucketNext!;
      before.bucketNext = entry.bucketNext;
    }
    entry.bucketNext = undefined;
    entry.flags |= REMOVED;
    this.#tombstones.delete(entry);
    this.digest.toggle(entry, entry.ts);
    this.#unlinkTs(entry);
  }

  /**
   * Links `entry` into the ts list after every entry with ts ≤ its own. New
   * writes carry the newest timestamps: O(1) at the newest end. Otherwise the
   * walk starts at the finger, the entry linked last away from that end: a
   * catch-up streams elements oldest first, each a step past the one before,
   * while live updates land at the newest end; walking back from the newest
   * end instead would cost one step per live update per catch-up element.
   */
  #linkTs(entry: Entry): void {
    const ts = entry.ts;
    const newest = this.#newest;
    let before: Entry | undefined;
    if (newest === undefined || newest.ts <= ts) before = newest;
    else {
      const finger = this.#finger;
      if (finger !== undefined && finger.ts <= ts) {
        before = finger;
        for (let next = before.newer; next !== undefined && next.ts <= ts; next = next.newer) before = next;
      } else {
        before = finger ?? newest;
        while (before !== undefined && before.ts > ts) before = before.older;
      }
      this.#finger = entry;
    }
    entry.older = before;
    entry.newer = before === undefined ? this.#oldest : before.newer;
    if (entry.older === undefined) this.#oldest = entry;
    else entry.older.newer = entry;
    if (entry.newer === undefined) this.#newest = entry;
    else entry.newer.older = entry;
  }

  #unlinkTs(entry: Entry): void {
    if (entry === this.#finger) this.#finger = entry.older ?? entry.newer;
    // The walk goes on from where the entry was: it comes again at the newest end if it is relinked.
    if (entry === this.#walk) this.#walk = entry.newer;
    if (entry.older === undefined) this.#oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === undefined) this.#newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = entry.newer = undefined;
  }
}
