/** Bridging a resume that cannot be replayed: from what a client's mirror
 *  holds (`known`, its live elements' keys and timestamps) and what this node
 *  holds of the session, the changes that turn the one into the other — or
 *  why no exact bridge exists. Also the check of a `known` list as input.
 *  Pure: knows no streams, sockets or hub.
 *
 *  Why it is exact: element timestamps are replicated with the elements, and
 *  by W2 every change a client was sent was already in the secondary's memory.
 *  So a node that is (or was) the secondary holds, per key, the client's
 *  timestamp or a newer one; the mirror and the node differ exactly by what
 *  the client missed. A key the client holds at a timestamp the node does not
 *  exceed would break that; then there is no bridge, and the caller falls back
 *  to a snapshot. */

import type { KnownElement, StreamPosition } from '../conference/api.ts';
import type { ElementState } from '../conference/model.ts';
import { type Refusal, refusal } from './errors.ts';

export type Bridge = { readonly ok: true; readonly changes: ElementState[] } | { readonly ok: false; readonly problem: string };

/**
 * The changes that turn a mirror holding `known` into `elements` (the node's
 * live elements of the session): every element newer than the client's or
 * missing from it, and for every key the client holds that the node does not
 * hold live, a deletion (`value: null`) at `deletedTsOf(key)` — the node's
 * tombstone timestamp, or for a collected tombstone the highest collected
 * timestamp (a later write of that key must exceed it, so newer-wins still
 * orders it). Each key appears at most once; oldest timestamp first.
 * `known` must have passed `checkKnown` (no duplicate keys).
 */
export function bridgeChanges(known: readonly KnownElement[], elements: readonly ElementState[], deletedTsOf: (key: string) => number): Bridge {
  const held = new Map<string, number>(known);
  const changes: ElementState[] = [];
  for (const element of elements) {
    const ts = held.get(element.key);
    if (ts === undefined || ts < element.ts) changes.push(element);
    else if (ts > element.ts) return { ok: false, problem: `the client holds ${element.key} at ts ${ts}, newer than this node's ${element.ts}` };
    held.delete(element.key);
  }
  // What is left the client holds and the node does not hold live.
  for (const [key, ts] of held) {
    const deletedTs = deletedTsOf(key);
    if (deletedTs <= ts) return { ok: false, problem: `the client holds ${key} at ts ${ts}; this node holds no deletion of it newer than that` };
    changes.push({ key, ts: deletedTs, value: null });
  }
  return { ok: true, changes: changes.sort((a, b) => a.ts - b.ts) };
}

/**
 * Checks a subscribe's `known` list beyond its schema (pairs of a key and a
 * timestamp): it comes with `resume`, has at most `knownMax` entries, names
 * only keys of `session`, each once. A refusal naming the first problem, or
 * undefined.
 */
export function checkKnown(session: string, resume: StreamPosition | undefined, known: readonly KnownElement[], knownMax: number): Refusal | undefined {
  if (resume === undefined) return refusal('invalid_request', 'message/known is sent only with message/resume (it describes the mirror at that position)');
  if (known.length > knownMax) {
    return refusal('too_large', `message/known has ${known.length} entries; limits.resumeKnownMax is ${knownMax}: leave it out to get a snapshot`);
  }
  const prefix = `s/${session}/`;
  const seen = new Set<string>();
  for (let i = 0; i < known.length; i++) {
    const key = known[i]![0];
    if (!key.startsWith(prefix) || key.length === prefix.length) return refusal('invalid_request', `message/known/${i}: key ${JSON.stringify(key)} is not an element of session ${JSON.stringify(session)}`);
    if (seen.has(key)) return refusal('invalid_request', `message/known/${i}: key ${JSON.stringify(key)} is listed twice`);
    seen.add(key);
  }
  return undefined;
}
