/** Finding the exact keys on which two stores differ, through their digests.
 *  Pure: the replication protocol runs the same steps over messages; here
 *  both stores are local (tests, benchmarks, `confstate check` internals). */

import type { Timestamp } from './clock.ts';
import { differingNodes } from './digest.ts';
import type { ElementStore } from './element-store.ts';

/** A key whose timestamp differs; 0 means the side does not hold the key. */
export interface Difference {
  readonly key: string;
  readonly localTs: Timestamp;
  readonly remoteTs: Timestamp;
}

/** A (key, ts) pair as one side reports the contents of a bucket. */
export interface KeyTs {
  readonly key: string;
  readonly ts: Timestamp;
}

/**
 * Compares the contents of one leaf bucket on both sides. Guarantees: returns
 * every key whose ts differs (or that only one side holds), each once, sorted
 * by key so the result is deterministic.
 */
export function compareBucket(local: readonly KeyTs[], remote: readonly KeyTs[]): Difference[] {
  const remoteTs = new Map<string, Timestamp>();
  for (const pair of remote) remoteTs.set(pair.key, pair.ts);
  const out: Difference[] = [];
  for (const pair of local) {
    const other = remoteTs.get(pair.key) ?? 0;
    if (other !== pair.ts) out.push({ key: pair.key, localTs: pair.ts, remoteTs: other });
    remoteTs.delete(pair.key);
  }
  for (const [key, ts] of remoteTs) out.push({ key, localTs: 0, remoteTs: ts });
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Every key on which `local` and `remote` disagree, with both timestamps.
 * Cost: one root compare when equal; otherwise O(differences · fanout · depth)
 * node compares plus the contents of the differing leaf buckets.
 * Both stores must use the same digest shape.
 */
export function diffStores(local: ElementStore, remote: ElementStore): Difference[] {
  const a = local.digest;
  const b = remote.digest;
  if (a.leafBits !== b.leafBits || a.fanoutBits !== b.fanoutBits) {
    throw new RangeError(`digest shapes differ: ${a.leafBits}/${a.fanoutBits} vs ${b.leafBits}/${b.fanoutBits}`);
  }
  let indexes = [0];
  for (let level = 0; level <= a.depth && indexes.length > 0; level++) {
    indexes = differingNodes(a, level, indexes, b.nodeHashes(level, indexes));
  }
  const out: Difference[] = [];
  for (const bucket of indexes) {
    out.push(...compareBucket(local.bucketElements(bucket), remote.bucketElements(bucket)));
  }
  return out;
}
