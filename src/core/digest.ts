/** A hash tree over the (key, timestamp) pairs of one store, updated in O(1)
 *  per write, so two stores compare by exchanging a root and then drill down
 *  only where they differ. Knows nothing of values, sessions or the network.
 *
 *  Shape: 2^leafBits leaf buckets (a key's bucket comes from its hash); each
 *  inner node covers 2^fanoutBits children; the root is level 0. A node's hash
 *  is the XOR of the 64-bit pair hashes below it, kept as two 32-bit lanes, so
 *  adding or removing a pair XORs one value into `depth + 1` nodes. XOR is
 *  order-free, so stores that applied the same pairs in any order agree.
 */

import { assert } from './assert.ts';
import type { Timestamp } from './clock.ts';

export const DIGEST_LEAF_BITS_DEFAULT = 16;
export const DIGEST_FANOUT_BITS_DEFAULT = 4;

/** Both 32-bit halves of a string's hash, computed once per key. */
export interface KeyHash {
  readonly hashLow: number;
  readonly hashHigh: number;
}

/**
 * Two independent 32-bit FNV-1a hashes of a string's UTF-16 units, finished
 * with murmur3's fmix32. Guarantees: deterministic across processes and
 * platforms (the digest of one store is comparable with another's).
 */
export function hashKey(key: string): KeyHash {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x9e3779b9;
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    a = Math.imul(a ^ unit, 0x01000193);
    b = Math.imul(b ^ unit, 0x01000197);
  }
  return { hashLow: fmix32(a), hashHigh: fmix32(b ^ key.length) };
}

/** The low lane of `hashKey(key)` alone: what a lookup by key needs. */
export function hashKeyLow(key: string): number {
  let a = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) a = Math.imul(a ^ key.charCodeAt(i), 0x01000193);
  return fmix32(a);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const TWO_TO_32 = 4294967296;

/** Low lane of the 64-bit hash of (key, ts). */
export function pairHashLow(keyHash: KeyHash, ts: Timestamp): number {
  const tsLow = ts >>> 0;
  const tsHigh = Math.floor(ts / TWO_TO_32);
  return fmix32(keyHash.hashLow ^ fmix32(tsLow ^ Math.imul(tsHigh, 0x9e3779b1)));
}

/** High lane of the 64-bit hash of (key, ts). */
export function pairHashHigh(keyHash: KeyHash, ts: Timestamp): number {
  const tsLow = ts >>> 0;
  const tsHigh = Math.floor(ts / TWO_TO_32);
  return fmix32(keyHash.hashHigh ^ fmix32(tsHigh ^ Math.imul(tsLow ^ 0x27d4eb2f, 0x165667b1)));
}

export interface DigestShape {
  readonly leafBits: number;
  readonly fanoutBits: number;
}

/** Hashes of a list of nodes, two lanes each: [low0, high0, low1, high1, …]. */
export type NodeHashes = Uint32Array;

/**
 * The hash tree. Guarantees: two digests of the same shape that saw the same
 * set of (key, ts) pairs have equal nodes everywhere; `toggle` and `replace`
 * are O(1); the first read of an inner level after writes is O(nodes).
 */
export class Digest {
  readonly leafBits: number;
  readonly fanoutBits: number;
  /** Number of levels below the root; leaves are level `depth`. */
  readonly depth: number;
  /** levels[d] holds 2 lanes per node of level d. */
  readonly #levels: Uint32Array[];
  /** Shift from a leaf index to its ancestor's index at level d. */
  readonly #shifts: number[];
  /** The leaf level (levels[depth]) and its index mask. */
  readonly #leaves: Uint32Array;
  readonly #leafMask: number;
  /** True when a leaf changed since the inner levels were last recomputed. */
  #innerStale = false;

  constructor(shape: DigestShape = { leafBits: DIGEST_LEAF_BITS_DEFAULT, fanoutBits: DIGEST_FANOUT_BITS_DEFAULT }) {
    const { leafBits, fanoutBits } = shape;
    assert(Number.isInteger(leafBits) && leafBits >= 0 && leafBits <= 24, `leafBits ${leafBits} must be 0..24`);
    assert(Number.isInteger(fanoutBits) && fanoutBits >= 1 && fanoutBits <= 8, `fanoutBits ${fanoutBits} must be 1..8`);
    this.leafBits = leafBits;
    this.fanoutBits = fanoutBits;
    this.depth = Math.ceil(leafBits / fanoutBits);
    this.#levels = [];
    this.#shifts = [];
    for (let d = 0; d <= this.depth; d++) {
      const shift = Math.max(0, (this.depth - d) * fanoutBits);
      const bits = Math.max(0, leafBits - shift);
      this.#shifts.push(leafBits - bits);
      this.#levels.push(new Uint32Array(2 << bits));
    }
    this.#leaves = this.#levels[this.depth]!;
    this.#leafMask = (1 << leafBits) - 1;
  }

  /** Number of leaf buckets. */
  get leafCount(): number {
    return 1 << this.leafBits;
  }

  /** Number of nodes at level `level` (1 at the root). */
  nodeCount(level: number): number {
    return this.#level(level).length >>> 1;
  }

  /** The leaf bucket a key hash falls in. */
  bucketOf(keyHash: KeyHash): number {
    return keyHash.hashLow & ((1 << this.leafBits) - 1);
  }

  /** Adds or removes the pair (key, ts): XOR is its own inverse. */
  toggle(keyHash: KeyHash, ts: Timestamp): void {
    this.#xor(keyHash.hashLow, pairHashLow(keyHash, ts), pairHashHigh(keyHash, ts));
  }

  /** Replaces the pair (key, oldTs) by (key, newTs) in one pass up the tree. */
  replace(keyHash: KeyHash, oldTs: Timestamp, newTs: Timestamp): void {
    const low = pairHashLow(keyHash, oldTs) ^ pairHashLow(keyHash, newTs);
    const high = pairHashHigh(keyHash, oldTs) ^ pairHashHigh(keyHash, newTs);
    this.#xor(keyHash.hashLow, low, high);
  }

  #xor(hashLow: number, low: number, high: number): void {
    const at = (hashLow & this.#leafMask) << 1;
    const leaves = this.#leaves;
    leaves[at] = (leaves[at]! ^ low) >>> 0;
    leaves[at + 1] = (leaves[at + 1]! ^ high) >>> 0;
    this.#innerStale = true;
  }

  /** Recomputes every inner level from the one below, bottom up: O(number of nodes). */
  #settle(): void {
    this.#innerStale = false;
    for (let d = this.depth - 1; d >= 0; d--) {
      const lanes = this.#levels[d]!;
      const below = this.#levels[d + 1]!;
      const bits = this.#shifts[d]! - this.#shifts[d + 1]!;
      lanes.fill(0);
      for (let child = 0; child < below.length; child += 2) {
        const at = ((child >>> 1) >>> bits) << 1;
        lanes[at] = (lanes[at]! ^ below[child]!) >>> 0;
        lanes[at + 1] = (lanes[at + 1]! ^ below[child + 1]!) >>> 0;
      }
    }
  }

  /** The root hash as [low, high]. Equal roots: the stores hold the same pairs (up to a 2^-64 chance). */
  root(): readonly [number, number] {
    const lanes = this.#level(0);
    return [lanes[0]!, lanes[1]!];
  }

  /** True when both lanes of node `index` at `level` are equal to `hashes[at]`, `hashes[at+1]`. */
  nodeEquals(level: number, index: number, hashes: ArrayLike<number>, at: number): boolean {
    const lanes = this.#level(level);
    return lanes[index * 2] === hashes[at] && lanes[index * 2 + 1] === hashes[at + 1];
  }

  /** Hashes of the given nodes of one level, in order: what one side sends the other. */
  nodeHashes(level: number, indexes: readonly number[]): NodeHashes {
    const lanes = this.#level(level);
    const out = new Uint32Array(indexes.length * 2);
    for (let i = 0; i < indexes.length; i++) {
      const index = indexes[i]!;
      assert(index >= 0 && index * 2 < lanes.length, `node ${index} is outside level ${level}`);
      out[i * 2] = lanes[index * 2]!;
      out[i * 2 + 1] = lanes[index * 2 + 1]!;
    }
    return out;
  }

  /** Indexes at `level + 1` of the children of node `index` at `level`. */
  childrenOf(level: number, index: number): number[] {
    assert(level < this.depth, `level ${level} has no children; leaves are level ${this.depth}`);
    const bits = this.#shifts[level]! - this.#shifts[level + 1]!;
    const first = index << bits;
    const out: number[] = [];
    for (let i = 0; i < 1 << bits; i++) out.push(first + i);
    return out;
  }

  /** Resets every node to the empty tree's hash (all zero). */
  clear(): void {
    for (const lanes of this.#levels) lanes.fill(0);
    this.#innerStale = false;
  }

  /** The lanes of one level, inner levels brought up to date first. */
  #level(level: number): Uint32Array {
    const lanes = this.#levels[level];
    assert(lanes !== undefined, `level ${level} is outside 0..${this.depth}`);
    if (this.#innerStale && level < this.depth) this.#settle();
    return lanes;
  }
}

/**
 * One step of a drill-down: given the nodes `indexes` of `level` and the other
 * side's hashes for them, returns the indexes at the next level (or, at the
 * leaves, the leaf buckets) that need a closer look. Pure, so the replication
 * protocol and a local comparison use the same code.
 */
export function differingNodes(local: Digest, level: number, indexes: readonly number[], remote: NodeHashes): number[] {
  assert(remote.length === indexes.length * 2, `got ${remote.length / 2} remote hashes for ${indexes.length} nodes`);
  const out: number[] = [];
  for (let i = 0; i < indexes.length; i++) {
    const index = indexes[i]!;
    if (local.nodeEquals(level, index, remote, i * 2)) continue;
    if (level === local.depth) out.push(index);
    else for (const child of local.childrenOf(level, index)) out.push(child);
  }
  return out;
}
