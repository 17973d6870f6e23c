/** The idempotency window across failovers (DESIGN.md §4, issue 5): a
 *  command with a client id leaves a record naming it in the replicated
 *  store, so the secondary — the next primary — knows it too and answers a
 *  retry `duplicate` instead of running it again, but only when the command's
 *  effect is in its store. Runs, joins of in-flight retries and quick answers
 *  stay with the in-memory window in front of it. It does not know commands
 *  or rules.
 *
 *  - One marker element per turn, not per command (docs/decisions/0026):
 *    the records of every command written in one turn of the event loop go
 *    into one element `d/{slot}`, written just before the turn's replicate
 *    frame leaves (StateNode.beforeSend), so it shares the frame of the
 *    updates it names: one round trip per command, and the cost of an element
 *    (write gate, store, digest, change feed, encoding, collector) shared by
 *    the turn. The slots form a ring written in order; a record is indexed
 *    on every node by 30 bits of its key hash, pointing at its slot.
 *  - Bounded by construction: the ring has `slots` elements and holds at most
 *    `slots` records: a turn that would pass it deletes the oldest slots in
 *    the same write. A newer record of the same key (a withdrawal, a command
 *    planned again) replaces the older in the index whatever order they
 *    arrive in (a snapshot sends slots in any order): the one in the slot
 *    with the newer timestamp stands.
 *  - The record names each update as [key, ts], the ts the write path gave
 *    it, and each node counts, from its change feed, the updates it has not
 *    yet seen at their recorded ts or later (the record may come before an
 *    update that waited behind another write to its element, or without it:
 *    the primary died first). A retry is `duplicate` only when that count is
 *    zero; otherwise the record counts as absent and the retry is planned
 *    again — what a crash between updates and record means.
 *  - Reaching the recorded ts means the update applied: per element, updates
 *    apply in timestamp order (W1), so a later write cannot overtake it, and a
 *    failed one withdraws its record (next bullet). That holds while the update
 *    can still arrive, i.e. while this node keeps the role and epoch it had
 *    when it learned the record: after a failover, an update still missing is
 *    lost, and a later write to its element must not stand in for it (the
 *    record is then broken for good).
 *  - A command whose write failed (any update not applied) withdraws its
 *    record with a newer one saying so: a `stale` update leaves its element
 *    newer than the recorded ts without its effect, and a later write would
 *    do the same for one answered `unavailable`. The withdrawal goes in a
 *    later turn's element, on failures only, after which the command is
 *    answered; this node forgets the record at once even if that write fails.
 *  - While a run of the key is in flight on this node its record is not read:
 *    the in-memory window joins the retry to that run.
 *  - A command that succeeds without writing (a plan with no updates) gets
 *    its record after it, in the next turn's element: nothing to wait for,
 *    so a retry is `duplicate` within the ttl.
 *  - The record names the epoch it was written in. A node that learns it in
 *    another epoch (the old primary, restarted, catching up after the
 *    failover) trusts only elements at exactly their recorded ts: one still
 *    missing is lost, and one past it may be a later write standing in for
 *    a lost update.
 *  - Residual case (docs/decisions/0022): a withdrawal that could not be
 *    replicated (refused) leaves the record on the peer, which then counts a
 *    later write, in the same epoch, of the failed update's element as that
 *    update; as does a peer that learns the record after such a write and
 *    before the withdrawal arrives (one round trip).
 *  - Records older than `ttlMs` are ignored. */

import { hash } from 'node:crypto';
import { type CommandResult, DONE } from './command-service.ts';
import type { CommandDedupe, DedupeAnswer } from './dedupe.ts';
import type { AssignedTs, StateNode, WriteOptions } from './state-node.ts';

/** The marker element key prefix: `d/{slot}` lies outside every session, so no subscriber sees it. */
export const MARKER_PREFIX = 'd/';

export interface ReplicatedDedupeOptions {
  /** Marker elements in the ring, and the most records they hold together: the replicated horizon. Equal on both nodes. */
  readonly slots: number;
  readonly ttlMs: number;
  /** Largest marker element text; a turn's records past it go into the next slot. Below the node's valueBytesMax. */
  readonly elementBytesMax?: number;
}

/** One command's record. */
export interface Marker {
  /** Hash of the dedupe key, so two commands are told apart. */
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

/** What a command that failed leaves: its key's records before this one count as absent. */
export interface Withdrawal {
  readonly k: string;
  readonly withdrawn: true;
}

export type DedupeRecord = Marker | Withdrawal;

/**
 * A marker element's value: one JSON string, `m3` then `;{record}` per
 * record. A record is `{k} {f} {a} {p}` then ` {key} {ts}` per update, or
 * `{k} -` for a withdrawal (keys hold no spaces or `;`: core/keys.ts; hashes
 * are base64url). A string and not an object because every node reads one per
 * turn: a string is checked, sent, stored and split for a fraction of what a
 * nested object costs, and holds no pointers for the collector to follow.
 */
const TAG = 'm3';
const SEPARATOR = ';';
const WITHDRAWN = '-';
/** Default elementBytesMax: half the node's default valueBytesMax (16 KiB), so a turn's element is never refused for size. */
const ELEMENT_BYTES_MAX = 8 * 1024;

export function recordText(record: DedupeRecord): string {
  if ('withdrawn' in record) return `${record.k} ${WITHDRAWN}`;
  let text = `${record.k} ${record.f} ${record.a} ${record.p}`;
  for (let i = 0; i < record.keys.length; i++) text += ` ${record.keys[i]} ${record.tss[i]}`;
  return text;
}

export function elementText(records: readonly string[]): string {
  return `${TAG}${SEPARATOR}${records.join(SEPARATOR)}`;
}

/** Length of `k` and `f` as this version writes them (22 base64url characters of SHA-256). */
const HASH_LENGTH = 22;

function parseRecord(text: string): DedupeRecord | undefined {
  const parts = text.split(' ');
  const k = parts[0]!;
  if (k.length !== HASH_LENGTH) return undefined;
  if (parts.length === 2 && parts[1] === WITHDRAWN) return { k, withdrawn: true };
  if (parts.length < 4 || (parts.length - 4) % 2 !== 0 || parts[1]!.length !== HASH_LENGTH) return undefined;
  const a = Number(parts[2]);
  const p = Number(parts[3]);
  if (parts[2]!.length === 0 || !Number.isFinite(a) || !Number.isSafeInteger(p)) return undefined;
  const keys: string[] = [];
  const tss: number[] = [];
  for (let i = 4; i < parts.length; i += 2) {
    const ts = Number(parts[i + 1]);
    if (!Number.isSafeInteger(ts) || parts[i]!.length === 0) return undefined;
    keys.push(parts[i]!);
    tss.push(ts);
  }
  return { k, f: parts[1]!, a, p, keys, tss };
}

/**
 * The records a marker element holds, or undefined when the value is not one
 * this version reads (a deletion, an older version's marker): then the slot
 * counts as empty, and a retry is planned again. A record that does not parse
 * is left out; the others still count.
 */
export function parseElement(value: unknown): DedupeRecord[] | undefined {
  if (typeof value !== 'string' || !value.startsWith(`${TAG}${SEPARATOR}`)) return undefined;
  const records: DedupeRecord[] = [];
  for (const text of value.slice(TAG.length + 1).split(SEPARATOR)) {
    const record = parseRecord(text);
    if (record !== undefined) records.push(record);
  }
  return records;
}

/** SHA-256 as base64url, one crypto.hash call: less than half the time of createHash().update().digest() for these short texts. */
function digest(text: string): string {
  return hash('sha256', text, 'base64url');
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const SEXTET = new Int8Array(128).fill(0);
for (let i = 0; i < BASE64URL.length; i++) SEXTET[BASE64URL.charCodeAt(i)] = i;

/** 30 bits of a key hash (its first five characters at `at`): what the index is keyed by, a small integer and no string. */
function indexBits(text: string, at: number): number {
  let n = 0;
  for (let i = at; i < at + 5; i++) n = n * 64 + SEXTET[text.charCodeAt(i) & 127]!;
  return n;
}

/**
 * What a retry needs of a settled record kept only in its element's text:
 * is it this key's (the last record of the key in the element), with this
 * body, within the ttl, and not a withdrawal. Read in place, without parsing
 * the element.
 */
function textAnswer(text: string, keyHash: string, fingerprintHash: string, notBeforeMs: number): 'other' | 'conflict' | 'duplicate' {
  const at = text.lastIndexOf(`${SEPARATOR}${keyHash} `);
  if (at === -1) return 'other';
  const f = at + HASH_LENGTH + 2;
  if (text.startsWith(WITHDRAWN, f) && (f + 1 === text.length || text[f + 1] === SEPARATOR)) return 'other';
  const a = f + HASH_LENGTH + 1;
  if (Number(text.slice(a, text.indexOf(' ', a))) < notBeforeMs) return 'other';
  return text.startsWith(fingerprintHash, f) ? 'duplicate' : 'conflict';
}

/** A record as this node knows it while it waits for updates or is broken; a settled one is read from its element's text. */
interface Held {
  readonly marker: Marker;
  /** Updates the record names not yet seen here at their recorded timestamp or later. */
  pending: number;
  /** The node's role and epoch when it learned the record (set while `pending` > 0). */
  readonly era: string;
  /** Never counts: an update it names can no longer arrive (the role or epoch changed first), or it was learned in another epoch than written without every element at exactly its ts. */
  broken: boolean;
}

/** One update a held record still waits for. */
interface Waiting {
  readonly held: Held;
  readonly ts: number;
}

/** The records of one turn, written together before its frame leaves. */
interface Turn {
  /** As written: the element's text is made from them at the flush, and this node learns its own elements from them without parsing. */
  readonly records: DedupeRecord[];
  readonly done: Promise<void>;
  readonly resolve: () => void;
}

export class ReplicatedCommandDedupe implements CommandDedupe<CommandResult> {
  /** Each ring slot's element text, timestamp and record count, kept from the change feed (on every node, so a promoted one has them). */
  readonly #texts: (string | undefined)[];
  readonly #tss: Float64Array;
  readonly #counts: Int32Array;
  /** Records in the ring. */
  #total = 0;
  /** Index bits of a record's key hash → the slot of the newest record of that key. */
  readonly #index = new Map<number, number>();
  /** Records that wait for updates or are broken, by index bits: the index points at their slot too. */
  readonly #held = new Map<number, Held>();
  /** Element keys some held record waits for. At most one entry per update a held record names: bounded by `slots`. */
  readonly #waiting = new Map<string, Waiting[]>();
  /** Dedupe keys with a run in flight on this node: their record may be ahead of their updates. */
  readonly #running = new Set<string>();
  /** The slot the next element goes to, and the newest element's timestamp (a promoted node goes on after it). */
  #next = 0;
  #newestTs = 0;
  /** Where the search for the oldest slot to delete starts: at or after `#next` in ring order. */
  #reclaimAt = 0;
  #turn: Turn | undefined = undefined;
  /** The elements this node wrote and has not yet seen applied, by slot, with their records: learned without parsing. */
  readonly #written = new Map<number, { readonly text: string; readonly records: DedupeRecord[] }>();
  readonly #elementBytesMax: number;
  readonly #unsubscribe: () => void;

  constructor(
    readonly local: CommandDedupe<CommandResult>,
    readonly node: StateNode,
    readonly options: ReplicatedDedupeOptions,
    readonly clock: { nowMs(): number },
  ) {
    this.#texts = new Array<string | undefined>(options.slots).fill(undefined);
    this.#tss = new Float64Array(options.slots);
    this.#counts = new Int32Array(options.slots);
    this.#elementBytesMax = options.elementBytesMax ?? ELEMENT_BYTES_MAX;
    this.#unsubscribe = node.onChange((change) => {
      if (change.key.startsWith(MARKER_PREFIX)) this.#learn(change.key, change.value, change.ts);
      else if (this.#waiting.size > 0) this.#seen(change.key, change.ts);
    });
  }

  get size(): number {
    return this.local.size;
  }

  /** Command records known to this node (withdrawals not counted). */
  get markerCount(): number {
    let count = 0;
    for (const [bits, slot] of this.#index) {
      if (this.#held.has(bits)) count++;
      else {
        const text = this.#texts[slot]!;
        // The last record of the key in the element is the one that counts.
        let withdrawn = false;
        for (let at = text.indexOf(SEPARATOR); at !== -1; at = text.indexOf(SEPARATOR, at + 1)) {
          if (indexBits(text, at + 1) !== bits) continue;
          const end = text.indexOf(SEPARATOR, at + 1);
          withdrawn = text.slice(at + HASH_LENGTH + 2, end === -1 ? text.length : end) === WITHDRAWN;
        }
        if (!withdrawn) count++;
      }
    }
    return count;
  }

  /** Updates that records known here name and this node has not seen yet. */
  get waitingCount(): number {
    let count = 0;
    for (const list of this.#waiting.values()) count += list.length;
    return count;
  }

  /** Records the ring holds (at most `slots`). */
  get recordCount(): number {
    return this.#total;
  }

  close(): void {
    this.#unsubscribe();
  }

  /** The ring slot a marker element key names, or undefined (not this ring's: another configuration's, ignored). */
  #slotOf(key: string): number | undefined {
    const digits = key.slice(MARKER_PREFIX.length);
    const slot = Number(digits);
    // Exactly the decimal this ring writes: `d/01`, `d/1e3` or `d/x` are some caller's elements, not a slot.
    return slot >= 0 && slot < this.options.slots && String(slot) === digits ? slot : undefined;
  }

  /** A slot changed: forget the records of its previous element, learn the new ones. */
  #learn(key: string, value: unknown, ts: number): void {
    const slot = this.#slotOf(key);
    if (slot === undefined) return;
    const previous = this.#texts[slot];
    if (previous !== undefined) this.#evict(slot, previous);
    this.#total -= this.#counts[slot]!;
    this.#counts[slot] = 0;
    this.#texts[slot] = undefined;
    this.#tss[slot] = 0;
    const own = this.#written.get(slot);
    let records: DedupeRecord[] | undefined;
    if (own !== undefined && own.text === value) {
      this.#written.delete(slot);
      records = own.records;
    } else records = parseElement(value);
    if (records === undefined) return;
    this.#texts[slot] = value as string;
    this.#tss[slot] = ts;
    this.#counts[slot] = records.length;
    this.#total += records.length;
    if (ts > this.#newestTs) {
      this.#newestTs = ts;
      // A secondary follows the ring, so that once promoted it writes after the newest element.
      if (this.node.nodeInfo().role !== 'primary') this.#next = this.#reclaimAt = (slot + 1) % this.options.slots;
    }
    for (const record of records) this.#learnRecord(slot, ts, record);
  }

  /** Drops from the index the records of the element `text` that slot `slot` held, where they are still the newest of their key. */
  #evict(slot: number, text: string): void {
    for (let at = text.indexOf(SEPARATOR); at !== -1; at = text.indexOf(SEPARATOR, at + 1)) {
      const bits = indexBits(text, at + 1);
      if (this.#index.get(bits) !== slot) continue;
      this.#index.delete(bits);
      const held = this.#held.get(bits);
      if (held !== undefined) {
        this.#forget(held);
        this.#held.delete(bits);
      }
    }
  }

  /** One record of the element in `slot` (timestamp `ts`): it replaces an older record of its key, and notes which updates it names are not here yet. */
  #learnRecord(slot: number, ts: number, record: DedupeRecord): void {
    const bits = indexBits(record.k, 0);
    const current = this.#index.get(bits);
    // A newer record of this key is known (a snapshot delivers slots in any order): it stands.
    if (current !== undefined && current !== slot && this.#tss[current]! > ts) return;
    const before = this.#held.get(bits);
    if (before !== undefined) {
      this.#forget(before);
      this.#held.delete(bits);
    }
    this.#index.set(bits, slot);
    if ('withdrawn' in record) return;
    const missing: number[] = [];
    let ahead = false;
    for (let i = 0; i < record.keys.length; i++) {
      const heldTs = this.node.elementTs(record.keys[i]!);
      if (heldTs === undefined || heldTs < record.tss[i]!) missing.push(i);
      else if (heldTs > record.tss[i]!) ahead = true;
    }
    // Every update it names is here at exactly its ts: settled, read from the text when a retry comes.
    if (missing.length === 0 && !ahead) return;
    const { role, epoch } = this.node.nodeInfo();
    // Learned in another epoch than it was written in (a node catching up after a failover): a
    // missing update can no longer arrive, and an element past its ts may be a later write
    // standing in for a lost update. Only exact timestamps count then.
    if (record.p !== epoch) {
      this.#held.set(bits, { marker: record, pending: 0, era: '', broken: true });
      return;
    }
    // In this epoch, an element past its ts has seen the update (W1); only missing ones are waited for.
    if (missing.length === 0) return;
    const held: Held = { marker: record, pending: missing.length, era: `${role}@${epoch}`, broken: false };
    this.#held.set(bits, held);
    for (const i of missing) {
      const key = record.keys[i]!;
      const ts = record.tss[i]!;
      const list = this.#waiting.get(key);
      if (list === undefined) this.#waiting.set(key, [{ held, ts }]);
      else list.push({ held, ts });
    }
  }

  /**
   * An element changed. Per element, updates apply in timestamp order (W1)
   * and a failed one withdraws its record, so reaching the recorded ts means
   * the named update applied — as long as it could still arrive from the same
   * source: after this node's role or epoch changed (a failover), the
   * update a record still waits for is lost, and a later write must not stand in for it.
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
      // Settled: from now on it is read from its element's text, like a record that never waited.
      if (held.pending === 0 && !held.broken) {
        const bits = indexBits(held.marker.k, 0);
        if (this.#held.get(bits) === held) this.#held.delete(bits);
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
    const keyHash = digest(key).slice(0, HASH_LENGTH);
    const fingerprintHash = digest(fingerprint).slice(0, HASH_LENGTH);
    if (!this.#running.has(key)) {
      const bits = indexBits(keyHash, 0);
      const held = this.#held.get(bits);
      if (held !== undefined) {
        if (held.marker.k === keyHash && this.clock.nowMs() - held.marker.a <= this.options.ttlMs) {
          if (held.marker.f !== fingerprintHash) return { kind: 'conflict' };
          if (held.pending === 0 && !held.broken) return { kind: 'duplicate', outcome: DONE };
          // Some update it names is not in this store (yet, or ever): as if there were no record, the command is planned again.
        }
      } else {
        const slot = this.#index.get(bits);
        if (slot !== undefined) {
          const answer = textAnswer(this.#texts[slot]!, keyHash, fingerprintHash, this.clock.nowMs() - this.options.ttlMs);
          if (answer === 'conflict') return { kind: 'conflict' };
          if (answer === 'duplicate') return { kind: 'duplicate', outcome: DONE };
        }
      }
    }
    // The in-memory window compares the body's hash too: it keeps it for the ttl, and the body may be long.
    return this.local.run(key, fingerprintHash, () => this.#executeRecorded(key, keyHash, fingerprintHash, execute), keep);
  }

  /** Runs the command with its record written in the same turn as its updates; withdraws the record if the command failed. */
  async #executeRecorded(key: string, keyHash: string, fingerprintHash: string, execute: (writeOptions: WriteOptions) => Promise<CommandResult>): Promise<CommandResult> {
    let recorded: Promise<void> | undefined;
    const record = (assigned: readonly AssignedTs[]): Promise<void> => {
      const keys = new Array<string>(assigned.length);
      const tss = new Array<number>(assigned.length);
      for (let i = 0; i < assigned.length; i++) {
        keys[i] = assigned[i]!.key;
        tss[i] = assigned[i]!.ts;
      }
      return this.#record({ k: keyHash, f: fingerprintHash, a: this.clock.nowMs(), p: this.node.nodeInfo().epoch, keys, tss });
    };
    this.#running.add(key);
    try {
      const outcome = await execute({ onAssigned: (assigned) => (recorded = record(assigned)) });
      // Answered once its record is written too (or refused): a retry on the other node must find it.
      if (recorded !== undefined) await recorded;
      if (!outcome.ok && recorded !== undefined) await this.#withdraw(keyHash);
      // Done without writing (a plan with no updates): the record goes after it, in the next turn's element. Best effort.
      if (outcome.ok && recorded === undefined) await record([]);
      return outcome;
    } catch (error) {
      if (recorded !== undefined) await this.#withdraw(keyHash);
      throw error;
    } finally {
      this.#running.delete(key);
    }
  }

  /**
   * Writes a withdrawal of this key's records. Best effort: this node forgets
   * the record at once; a peer that keeps it (the withdrawal was refused)
   * still waits for the updates that failed, and only a later write to their
   * element, then a failover, could make it answer `duplicate` (a residual case).
   */
  async #withdraw(keyHash: string): Promise<void> {
    const bits = indexBits(keyHash, 0);
    const held = this.#held.get(bits);
    if (held !== undefined) {
      this.#forget(held);
      this.#held.delete(bits);
    }
    this.#index.delete(bits);
    await this.#record({ k: keyHash, withdrawn: true });
  }

  /** Drops the records kept for the element written to `key` (it was refused, so it will not be learned). */
  #forgetWritten(updates: readonly { key: string; value: string | null }[], key: string): void {
    const value = updates.find((u) => u.key === key)?.value;
    const slot = this.#slotOf(key);
    if (slot !== undefined && this.#written.get(slot)?.text === value) this.#written.delete(slot);
  }

  /** Adds a record to this turn's element; resolves once it is written (or refused). */
  #record(record: DedupeRecord): Promise<void> {
    let turn = this.#turn;
    if (turn === undefined) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      const created: Turn = { records: [], done, resolve };
      turn = this.#turn = created;
      this.node.beforeSend(() => this.#flush(created));
    }
    turn.records.push(record);
    return turn.done;
  }

  /**
   * Writes a turn's records: as few elements as fit `elementBytesMax`, in the
   * next ring slots, and deletes the oldest slots while the ring would hold
   * more than `slots` records — all in one write, so in this turn's frame.
   */
  #flush(turn: Turn): void {
    if (this.#turn === turn) this.#turn = undefined;
    const slots = this.options.slots;
    const updates: { key: string; value: string | null }[] = [];
    let chunk: string[] = [];
    let from = 0;
    let bytes = TAG.length;
    const first = this.#next;
    const put = (to: number): void => {
      const slot = this.#next;
      this.#next = (slot + 1) % slots;
      // The oldest slot is the one after the newest: reclaiming starts there at the latest.
      if (slot === this.#reclaimAt) this.#reclaimAt = this.#next;
      const text = elementText(chunk);
      this.#written.set(slot, { text, records: turn.records.slice(from, to) });
      from = to;
      updates.push({ key: `${MARKER_PREFIX}${slot}`, value: text });
      // Counted now, so the reclaim below and the next turn see it; the change feed sets the same count when it applies.
      this.#total += chunk.length - this.#counts[slot]!;
      this.#counts[slot] = chunk.length;
    };
    // A turn with more records than the ring holds keeps its newest: the ring would overwrite the others in this very write.
    const skip = Math.max(0, turn.records.length - slots);
    from = skip;
    turn.records.forEach((record, i) => {
      if (i < skip) return;
      const text = recordText(record);
      if (chunk.length > 0 && bytes + 1 + text.length > this.#elementBytesMax) {
        put(i);
        chunk = [];
        bytes = TAG.length;
      }
      chunk.push(text);
      bytes += 1 + text.length;
    });
    put(turn.records.length);
    // Over the budget: delete the oldest slots, in ring order from the cursor (which only
    // passes empty or deleted slots, so each slot is passed once per turn of the ring).
    const written = (this.#next - first + slots) % slots || slots;
    for (let step = 0; this.#total > slots && step < slots; step++) {
      const slot = this.#reclaimAt;
      this.#reclaimAt = (slot + 1) % slots;
      if (this.#counts[slot] === 0 || (slot - first + slots) % slots < written) continue;
      updates.push({ key: `${MARKER_PREFIX}${slot}`, value: null });
      this.#total -= this.#counts[slot]!;
      this.#counts[slot] = 0;
    }
    void this.node.write(updates).then((outcomes) => {
      // An element refused is never learned: forget its records.
      for (const outcome of outcomes) if (outcome.code !== 'applied') this.#forgetWritten(updates, outcome.key);
      turn.resolve();
    }, turn.resolve);
  }
}
