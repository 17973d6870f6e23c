/** The idempotency window across failovers (DESIGN.md §4, issue 5): a
 *  command with a client id writes a marker element naming it through the
 *  replicated write path, so the secondary — the next primary — knows it too
 *  and answers a retry `duplicate` instead of running it again, but only when
 *  the command's effect is in its store. Runs, joins of in-flight retries and
 *  quick answers stay with the in-memory window in front of it. It does not
 *  know commands or rules.
 *
 *  - Bounded by construction: markers live in `slots` fixed elements
 *    `d/{slot}`, the slot chosen by a hash of the dedupe key; a marker
 *    overwrites its slot. A colliding newer command evicts an older marker
 *    early: a retry of the older one is then planned again against a state
 *    that already holds its effect, which for every conference command writes
 *    nothing or the same.
 *  - Written in the same turn as the command's updates, so it shares their
 *    replicate frame: one round trip per command, not two. The marker may
 *    thus reach a store before the updates it names (one waiting behind
 *    another write to its element), or without them (the primary died
 *    first). So it records each update as [key, ts], the ts the write path
 *    gave it, and each node counts, from its change feed, the updates it has
 *    not yet seen at their recorded ts or later. A retry is `duplicate` only
 *    when that count is zero; otherwise the marker counts as absent and the
 *    retry is planned again — what a crash between updates and marker meant
 *    when the marker came after them.
 *  - Reaching the recorded ts means the update applied: per element, updates
 *    apply in timestamp order (W1), so a later write cannot overtake it, and a
 *    failed one withdraws its marker (next bullet). That holds while the update
 *    can still arrive, i.e. while this node keeps the role and epoch it had
 *    when it learned the marker: after a failover, an update still missing is
 *    lost, and a later write to its element must not stand in for it (the
 *    marker is then broken for good).
 *  - A command whose write failed (any update not applied) withdraws its
 *    marker by overwriting the slot: a `stale` update leaves its element newer
 *    than the recorded ts without its effect, and a later write would do the
 *    same for one answered `unavailable`. The withdrawal is a second write, on
 *    failures only, after which the command is answered; this node forgets the
 *    marker at once even if that write fails.
 *  - While a run of the key is in flight on this node its marker is not read:
 *    the in-memory window joins the retry to that run.
 *  - A command that succeeds without writing (a plan with no updates) gets
 *    its marker alone, after it, as before (its own round trip, outside the
 *    session's turn): nothing to wait for, so a retry is `duplicate` within
 *    the ttl.
 *  - The marker names the epoch it was written in. A node that learns it in
 *    another epoch (the old primary, restarted, catching up after the
 *    failover) trusts only elements at exactly their recorded ts: one still
 *    missing is lost, and one past it may be a later write standing in for
 *    a lost update.
 *  - Residual case (docs/decisions/0022): a withdrawal that could not be
 *    replicated (refused) leaves the marker on the peer, which then counts a
 *    later write, in the same epoch, of the failed update's element as that
 *    update; as does a peer that learns the marker after such a write and
 *    before the withdrawal arrives (one round trip).
 *  - Markers older than `ttlMs` are ignored. */

import { hash } from 'node:crypto';
import { type CommandResult, DONE } from './command-service.ts';
import type { CommandDedupe, DedupeAnswer } from './dedupe.ts';
import type { ElementUpdate } from '../conference/model.ts';
import type { AssignedTs, StateNode, WriteOptions } from './state-node.ts';

/** The marker element key prefix: `d/{slot}` lies outside every session, so no subscriber sees it. */
export const MARKER_PREFIX = 'd/';

export interface ReplicatedDedupeOptions {
  /** Marker slots (elements). 65,536: a minute of 1,000 commands/s before collisions become likely. */
  readonly slots: number;
  readonly ttlMs: number;
}

export interface Marker {
  /** Hash of the dedupe key, so a slot shared by two commands is told apart. */
  readonly k: string;
  /** Hash of the command body: a retry must repeat it. */
  readonly f: string;
  /** Wall-clock ms when the command was submitted. */
  readonly a: number;
  /** The epoch of the primary that wrote it: only from that primary can the updates it names still arrive. */
  readonly p: number;
  /** The keys of the command's updates, and (same index) the ts the write path gave each, so a retry can see whether it applied. */
  readonly keys: readonly string[];
  readonly tss: readonly number[];
}

/**
 * A marker's element value: one JSON string, `m2 {k} {f} {a} {p}` then
 * ` {key} {ts}` per update (keys hold no spaces: core/keys.ts). A string and
 * not an object because every command writes one and every node reads it:
 * a string is checked, sent, stored and split for a fraction of what a
 * nested object costs, and holds no pointers for the collector to follow.
 */
const MARKER_TAG = 'm2';

export function markerText(marker: Marker): string {
  let text = `${MARKER_TAG} ${marker.k} ${marker.f} ${marker.a} ${marker.p}`;
  for (let i = 0; i < marker.keys.length; i++) text += ` ${marker.keys[i]} ${marker.tss[i]}`;
  return text;
}

/** The marker a slot holds, or undefined (a withdrawal, or not a marker this version reads — then it counts as absent, and a retry is planned again). */
export function parseMarker(value: unknown): Marker | undefined {
  if (typeof value !== 'string' || !value.startsWith(`${MARKER_TAG} `)) return undefined;
  const parts = value.split(' ');
  if (parts.length < 5 || (parts.length - 5) % 2 !== 0) return undefined;
  const a = Number(parts[3]);
  const p = Number(parts[4]);
  if (!Number.isFinite(a) || !Number.isSafeInteger(p)) return undefined;
  const keys: string[] = [];
  const tss: number[] = [];
  for (let i = 5; i < parts.length; i += 2) {
    const ts = Number(parts[i + 1]);
    if (!Number.isSafeInteger(ts) || parts[i]!.length === 0) return undefined;
    keys.push(parts[i]!);
    tss.push(ts);
  }
  return { k: parts[1]!, f: parts[2]!, a, p, keys, tss };
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * A marker that waits for nothing but cannot be kept as its text (a broken one,
 * or hashes of another length; see Indexed), as the index keeps it: without
 * its lists of updates, which nothing reads again.
 */
function settled(marker: Marker): Marker {
  return { k: marker.k, f: marker.f, a: marker.a, p: marker.p, keys: NONE, tss: NONE };
}

/** Length of `k` and `f` as this version writes them (22 base64url characters of SHA-256). */
const HASH_LENGTH = 22;
/** Where `k`, `f` and `a` start in the text of a marker whose hashes have HASH_LENGTH. */
const K_AT = MARKER_TAG.length + 1;
const F_AT = K_AT + HASH_LENGTH + 1;
const A_AT = F_AT + HASH_LENGTH + 1;

/**
 * What a retry needs of a settled marker kept as its text (see Indexed): is it
 * this key's, with this body, within the ttl. Read in place, without parsing.
 */
function textAnswer(text: string, keyHash: string, fingerprintHash: string, notBeforeMs: number): 'other' | 'conflict' | 'duplicate' {
  if (!text.startsWith(keyHash, K_AT)) return 'other';
  if (Number(text.slice(A_AT, text.indexOf(' ', A_AT))) < notBeforeMs) return 'other';
  return text.startsWith(fingerprintHash, F_AT) ? 'duplicate' : 'conflict';
}

/** What a failed command leaves in its slot: not a marker, so every node drops the slot from its index. */
const WITHDRAWN = 'withdrawn';

/** SHA-256 as base64url, one crypto.hash call: less than half the time of createHash().update().digest() for these short texts. */
function digest(text: string): string {
  return hash('sha256', text, 'base64url');
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** 30 bits of a digest that `k` (its first HASH_LENGTH characters) does not hold, for the slot. */
function slotBits(digestText: string): number {
  let n = 0;
  for (let i = HASH_LENGTH; i < HASH_LENGTH + 5; i++) n = n * 64 + BASE64URL.indexOf(digestText[i]!);
  return n;
}

/** A marker as this node knows it, with what it has seen of the updates the marker names. */
interface Held {
  readonly marker: Marker;
  /** Updates the marker names not yet seen here at their recorded timestamp or later. */
  pending: number;
  /** The node's role and epoch when it learned the marker (set while `pending` > 0). */
  readonly era: string;
  /** Never counts: an update it names can no longer arrive (the role or epoch changed first), or it was learned in another epoch than written without every element at exactly its ts. */
  broken: boolean;
}

/** One update a held marker still waits for. */
interface Waiting {
  readonly held: Held;
  readonly ts: number;
}

/**
 * A slot as the index keeps it. Most markers wait for nothing and count (every
 * update they name was seen in the same role and epoch): those are kept as the
 * element's own text, which the store holds anyway, so a marker costs the
 * index no object of its own. Every node keeps one per slot for minutes, and
 * the objects it used to keep per marker were most of the collector's work on
 * the command path. The others (waiting, broken, or hashes of another length) are Held.
 */
type Indexed = Held | string;

export class ReplicatedCommandDedupe implements CommandDedupe<CommandResult> {
  /** Markers by slot key, kept from the node's change feed (on every node, so a promoted one has them). */
  readonly #markers = new Map<string, Indexed>();
  /** Element keys some held marker waits for. At most one entry per update a held marker names: bounded by `slots`. */
  readonly #waiting = new Map<string, Waiting[]>();
  /** Dedupe keys with a run in flight on this node: their marker may be ahead of their updates. */
  readonly #running = new Set<string>();
  readonly #unsubscribe: () => void;

  constructor(
    readonly local: CommandDedupe<CommandResult>,
    readonly node: StateNode,
    readonly options: ReplicatedDedupeOptions,
    readonly clock: { nowMs(): number },
  ) {
    this.#unsubscribe = node.onChange((change) => {
      if (change.key.startsWith(MARKER_PREFIX)) this.#learn(change.key, change.value);
      else if (this.#waiting.size > 0) this.#seen(change.key, change.ts);
    });
  }

  get size(): number {
    return this.local.size;
  }

  /** Markers known to this node. */
  get markerCount(): number {
    return this.#markers.size;
  }

  /** Updates that markers known here name and this node has not seen yet. */
  get waitingCount(): number {
    let count = 0;
    for (const list of this.#waiting.values()) count += list.length;
    return count;
  }

  close(): void {
    this.#unsubscribe();
  }

  /** A slot changed: forget what its previous marker waited for, and note which updates the new one names are not here yet. */
  #learn(slot: string, text: unknown): void {
    const marker = parseMarker(text);
    const previous = this.#markers.get(slot);
    if (previous !== undefined && typeof previous !== 'string') this.#forget(previous);
    if (marker === undefined) {
      this.#markers.delete(slot);
      return;
    }
    const missing: number[] = [];
    let ahead = false;
    for (let i = 0; i < marker.keys.length; i++) {
      const heldTs = this.node.elementTs(marker.keys[i]!);
      if (heldTs === undefined || heldTs < marker.tss[i]!) missing.push(i);
      else if (heldTs > marker.tss[i]!) ahead = true;
    }
    if (missing.length === 0 && !ahead) {
      const compact = marker.k.length === HASH_LENGTH && marker.f.length === HASH_LENGTH;
      this.#markers.set(slot, compact ? (text as string) : { marker: settled(marker), pending: 0, era: '', broken: false });
      return;
    }
    const { role, epoch } = this.node.nodeInfo();
    // Learned in another epoch than it was written in (a node catching up after a failover): a
    // missing update can no longer arrive, and an element past its ts may be a later write
    // standing in for a lost update. Only exact timestamps count then.
    if (marker.p !== epoch) {
      this.#markers.set(slot, { marker: settled(marker), pending: 0, era: '', broken: true });
      return;
    }
    const held: Held = { marker, pending: missing.length, era: `${role}@${epoch}`, broken: false };
    this.#markers.set(slot, held);
    for (const i of missing) {
      const key = marker.keys[i]!;
      const ts = marker.tss[i]!;
      const list = this.#waiting.get(key);
      if (list === undefined) this.#waiting.set(key, [{ held, ts }]);
      else list.push({ held, ts });
    }
  }

  /**
   * An element changed. Per element, updates apply in timestamp order (W1)
   * and a failed one withdraws its marker, so reaching the recorded ts means
   * the named update applied — as long as it could still arrive from the same
   * source: after this node's role or epoch changed (a failover), the
   * update a marker still waits for is lost, and a later write must not stand in for it.
   */
  #seen(key: string, ts: number): void {
    const list = this.#waiting.get(key);
    if (list === undefined) return;
    const left = list.filter((waiting) => waiting.ts > ts);
    if (left.length === list.length) return;
    if (left.length === 0) this.#waiting.delete(key);
    else this.#waiting.set(key, left);
    let era: string | undefined;
    for (const { held, ts: recordedTs } of list) {
      if (recordedTs > ts) continue;
      if (era === undefined) {
        const { role, epoch } = this.node.nodeInfo();
        era = `${role}@${epoch}`;
      }
      if (held.era === era) held.pending--;
      else if (!held.broken) {
        held.broken = true;
        this.#forget(held);
      }
    }
  }

  /** Removes what `held` waits for from the index. */
  #forget(held: Held): void {
    if (held.pending === 0) return;
    for (const key of held.marker.keys) {
      const list = this.#waiting.get(key);
      if (list === undefined) continue;
      const left = list.filter((waiting) => waiting.held !== held);
      if (left.length === 0) this.#waiting.delete(key);
      else if (left.length !== list.length) this.#waiting.set(key, left);
    }
  }

  async run(key: string, fingerprint: string, execute: (writeOptions: WriteOptions) => Promise<CommandResult>, keep: (outcome: CommandResult) => boolean): Promise<DedupeAnswer<CommandResult>> {
    const keyDigest = digest(key);
    const keyHash = keyDigest.slice(0, HASH_LENGTH);
    const slot = `${MARKER_PREFIX}${slotBits(keyDigest) % this.options.slots}`;
    const fingerprintHash = digest(fingerprint).slice(0, HASH_LENGTH);
    const held = this.#running.has(key) ? undefined : this.#markers.get(slot);
    if (typeof held === 'string') {
      const answer = textAnswer(held, keyHash, fingerprintHash, this.clock.nowMs() - this.options.ttlMs);
      if (answer === 'conflict') return { kind: 'conflict' };
      if (answer === 'duplicate') return { kind: 'duplicate', outcome: DONE };
    } else if (held !== undefined && held.marker.k === keyHash && this.clock.nowMs() - held.marker.a <= this.options.ttlMs) {
      if (held.marker.f !== fingerprintHash) return { kind: 'conflict' };
      if (held.pending === 0 && !held.broken) return { kind: 'duplicate', outcome: DONE };
      // Some update it names is not in this store (yet, or ever): as if there were no marker, the command is planned again.
    }
    // The in-memory window compares the body's hash too: it keeps it for the ttl, and the body may be long.
    return this.local.run(key, fingerprintHash, () => this.#executeMarked(key, slot, keyHash, fingerprintHash, execute), keep);
  }

  /** Runs the command with its marker submitted in the same turn as its updates; withdraws the marker if the command failed. */
  async #executeMarked(key: string, slot: string, keyHash: string, fingerprintHash: string, execute: (writeOptions: WriteOptions) => Promise<CommandResult>): Promise<CommandResult> {
    let submitted = false;
    const marker = (assigned: readonly AssignedTs[]): ElementUpdate => {
      submitted = true;
      const value = markerText({ k: keyHash, f: fingerprintHash, a: this.clock.nowMs(), p: this.node.nodeInfo().epoch, keys: assigned.map((u) => u.key), tss: assigned.map((u) => u.ts) });
      return { key: slot, value };
    };
    this.#running.add(key);
    try {
      const outcome = await execute({ marker });
      if (!outcome.ok && submitted) await this.#withdraw(slot, keyHash);
      // Done without writing (a plan with no updates): the marker goes alone, after it, as it always did. Best effort.
      if (outcome.ok && !submitted) await this.node.write([marker([])]);
      return outcome;
    } catch (error) {
      if (submitted) await this.#withdraw(slot, keyHash);
      throw error;
    } finally {
      this.#running.delete(key);
    }
  }

  /**
   * Overwrites the slot if it still holds this key's marker (not a colliding
   * newer command's). Best effort: this node forgets the marker at once; a
   * peer that keeps it (the withdrawal was refused) still waits for the
   * updates that failed, and only a later write to their element, then a
   * failover, could make it answer `duplicate` (a residual case).
   */
  async #withdraw(slot: string, keyHash: string): Promise<void> {
    const held = this.#markers.get(slot);
    if (held === undefined || (typeof held === 'string' ? !held.startsWith(keyHash, K_AT) : held.marker.k !== keyHash)) return;
    if (typeof held !== 'string') this.#forget(held);
    this.#markers.delete(slot);
    await this.node.write([{ key: slot, value: WITHDRAWN }]);
  }
}
