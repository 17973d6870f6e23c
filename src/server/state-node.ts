/** What the conference server needs of the replicated store it runs beside:
 *  write element updates through the write path, read a session's elements,
 *  follow every applied change, and say what this node is. The server knows
 *  nothing else of replication. `LocalNode` (local-node.ts) implements it over
 *  a Primary or Secondary in this process; `MemoryStateNode` below is an
 *  unreplicated one for tests of the server alone. */

import { HybridClock } from '../core/clock.ts';
import { ElementStore } from '../core/element-store.ts';
import { type ReplicationUnit, WriteGate, type WriteRequest } from '../core/write-gate.ts';
import { checkValue } from '../core/value.ts';
import type { NodeInfo } from '../conference/api.ts';
import { type Refusal, refusal } from './errors.ts';
import type { ElementState, ElementUpdate } from '../conference/model.ts';

/** The outcome of one element update. Only `applied` means the secondary and this node hold it (W2). */
export type WriteOutcome =
  | { readonly code: 'applied'; readonly key: string; readonly ts: number }
  | { readonly code: 'stale' | 'queue_full' | 'unavailable' | 'rejected' | 'not_primary'; readonly key: string; readonly message: string };

export interface NodeStatus {
  readonly info: NodeInfo;
  /** Ready to take writes: primary, and a secondary streaming (or minReplicas 0). */
  readonly ready: boolean;
  /** Serving without a secondary (minReplicas 0, or a secondary that is catching up / absent). */
  readonly degraded: boolean;
  /** Why not ready, for /readyz. */
  readonly reason: string | null;
  readonly minReplicas: 0 | 1;
  readonly secondaryState: 'none' | 'negotiating' | 'catching_up' | 'streaming' | 'not_applicable';
  /** Requests waiting in the write gate plus units waiting for the replication window. */
  readonly queueDepth: number;
  readonly replicationInFlight: number;
  readonly elements: number;
  /** Tombstones held (counted in `elements`). */
  readonly tombstones: number;
  /** Elements this node's store removed by tombstone collection since start. */
  readonly tombstonesCollected: number;
  readonly lastSyncCheck: { readonly inSync: boolean; readonly differenceCount: number; readonly ageMs: number } | null;
  /** Update answers by code since start. */
  readonly answerCounts: ReadonlyMap<string, number>;
  /**
   * The store holds every acknowledged update, so reads may be served: a
   * primary past its start-up probe, or a secondary that has been in sync.
   * False on a node that starts empty and is still catching up (or, restarted
   * as primary, has not yet asked its peer): its reads would show a session
   * with parts missing.
   */
  readonly readsComplete: boolean;
}

/** Why reads are refused on this node (`unavailable`, retryable), or undefined when they may be served. */
export function readRefusal(status: NodeStatus): Refusal | undefined {
  if (status.readsComplete) return undefined;
  const { nodeId, role } = status.info;
  const why = role === 'primary' ? 'is starting and has not yet asked its peer whether it is primary at a newer epoch' : 'is catching up with the primary and does not yet hold every acknowledged update';
  return refusal('unavailable', `this node (${nodeId}, ${role}) ${why}; read from the primary or retry shortly`, status.info.primaryUrl);
}

/** The timestamp the write path gave one submitted update: its ts if and when it is applied. */
export interface AssignedTs {
  readonly key: string;
  readonly ts: number;
}

export interface WriteOptions {
  /**
   * Called synchronously with the timestamps the write path gave `updates`,
   * once all of them were submitted, so the caller can record them in the
   * same turn (an idempotency record naming them: replicated-dedupe.ts).
   * Not called when any of `updates` was refused at once (no timestamp:
   * rejected, unavailable, queue_full, stale, not_primary).
   */
  readonly onAssigned?: (assigned: readonly AssignedTs[]) => void;
}

/** An applied change, in apply order. */
export interface Change extends ElementState {
  readonly session: string | undefined;
}

export interface StateNode {
  status(): NodeStatus;
  /** What `status().info` holds, without building the rest: for paths that run per command. */
  nodeInfo(): NodeInfo;
  /**
   * Submits each update through the write gate (they are independent: no
   * atomicity across keys) with a fresh timestamp; resolves once every one is
   * answered, outcomes in the order given. Never rejects; on a secondary every
   * outcome is `not_primary`. `options.onAssigned` sees their timestamps
   * before this returns.
   */
  write(updates: readonly ElementUpdate[], options?: WriteOptions): Promise<WriteOutcome[]>;
  /**
   * Calls `flush` once, after the work of this turn of the event loop and
   * before what was written in it is sent to the secondary: a write `flush`
   * makes shares their replicate frame. For work that gathers a turn's
   * writes into one (replicated-dedupe.ts); several calls in a turn run in order.
   */
  beforeSend(flush: () => void): void;
  /** The live (not deleted) elements of a session. */
  sessionElements(session: string): ElementState[];
  /**
   * The timestamp a write to `key` must exceed here: its element's (a
   * tombstone's included), or for a key not held the highest collected
   * tombstone timestamp (0 if none) — so a deleted key's deletion happened at
   * or before it. What a resume bridge dates a deletion with.
   */
  currentTs(key: string): number;
  /**
   * The timestamp of the element held at `key` (a tombstone's included), or
   * undefined when none is held — unlike `currentTs`, never a collected
   * tombstone's, which says nothing of this key.
   */
  elementTs(key: string): number | undefined;
  sessionIds(): Iterable<string>;
  /** Calls `listener` after every change this node applies (own writes, replication, repair). Returns an unsubscribe function. */
  onChange(listener: (change: Change) => void): () => void;
}

/** Shared by the implementations: list, read and follow a store. */
export class StoreReader {
  readonly #listeners = new Set<(change: Change) => void>();

  constructor(readonly store: ElementStore) {
    store.onApplied = (element) => {
      if (this.#listeners.size === 0) return;
      const key = element.key;
      const session = key.startsWith('s/') ? key.slice(2, key.indexOf('/', 2)) : undefined;
      const change: Change = { key, ts: element.ts, value: element.deleted ? null : element.value, session };
      for (const listener of this.#listeners) listener(change);
    };
  }

  sessionElements(session: string): ElementState[] {
    const out: ElementState[] = [];
    for (const element of this.store.sessionElements(session)) {
      if (!element.deleted) out.push({ key: element.key, ts: element.ts, value: element.value });
    }
    return out;
  }

  currentTs(key: string): number {
    return this.store.currentTs(key);
  }

  elementTs(key: string): number | undefined {
    return this.store.get(key)?.ts;
  }

  sessionIds(): Iterable<string> {
    return this.store.sessions();
  }

  onChange(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

interface MemoryRequest extends WriteRequest {
  readonly index: number;
  readonly batch: MemoryBatch;
}

interface MemoryBatch {
  readonly outcomes: WriteOutcome[];
  remaining: number;
  readonly resolve: (outcomes: WriteOutcome[]) => void;
}

/**
 * A primary with no secondary (minReplicas 0), in memory, for tests of the
 * server and SDK: the same write gate and store, units applied as soon as the
 * gate releases them. `holdReplication` keeps units in flight until
 * `releaseReplication`, to test what clients see while a write waits.
 */
export class MemoryStateNode implements StateNode {
  readonly store = new ElementStore();
  readonly gate = new WriteGate<MemoryRequest>(this.store);
  readonly reader = new StoreReader(this.store);
  readonly clock: HybridClock;
  holdReplication = false;
  /** Tests set it false to play a node that is still catching up. */
  readsComplete = true;
  readonly #held: ReplicationUnit<MemoryRequest>[] = [];
  readonly #answerCounts = new Map<string, number>();

  constructor(
    readonly info: NodeInfo = { nodeId: 1, role: 'primary', epoch: 1, primaryUrl: null },
    wall: { nowMs(): number } = { nowMs: () => Date.now() },
  ) {
    this.clock = new HybridClock(wall, { nodeId: info.nodeId, maxClockSkewMs: 60_000 });
  }

  nodeInfo(): NodeInfo {
    return this.info;
  }

  status(): NodeStatus {
    return {
      info: this.info,
      ready: this.info.role === 'primary',
      degraded: this.info.role === 'primary',
      reason: this.info.role === 'primary' ? null : 'not primary',
      minReplicas: 0,
      secondaryState: 'none',
      queueDepth: this.gate.queuedCount,
      replicationInFlight: this.gate.inFlightCount,
      elements: this.store.size,
      tombstones: this.store.tombstoneCount,
      tombstonesCollected: this.store.collectedCount,
      lastSyncCheck: null,
      answerCounts: this.#answerCounts,
      readsComplete: this.readsComplete,
    };
  }

  write(updates: readonly ElementUpdate[], options: WriteOptions = {}): Promise<WriteOutcome[]> {
    if (this.info.role !== 'primary') {
      return Promise.resolve(updates.map((u) => ({ code: 'not_primary' as const, key: u.key, message: 'this node is a secondary' })));
    }
    if (updates.length === 0) {
      options.onAssigned?.([]);
      return Promise.resolve([]);
    }
    return new Promise((resolve) => {
      // One extra count for the submission itself, released at the end: answers given at once cannot resolve it early.
      const batch: MemoryBatch = { outcomes: new Array<WriteOutcome>(updates.length), remaining: updates.length + 1, resolve };
      const assigned: AssignedTs[] = [];
      let refusedAtOnce = false;
      updates.forEach((update, index) => {
        const ts = this.#submit(batch, index, update);
        if (ts === undefined) refusedAtOnce = true;
        else assigned.push({ key: update.key, ts });
      });
      if (!refusedAtOnce) options.onAssigned?.(assigned);
      this.#pump();
      this.#settle(batch, -1, undefined);
    });
  }

  /** Nothing is sent anywhere: `flush` runs once this turn's synchronous work is done (a microtask). */
  beforeSend(flush: () => void): void {
    queueMicrotask(flush);
  }

  /** Submits one update to the gate; its timestamp, or undefined when it was refused at once. */
  #submit(batch: MemoryBatch, index: number, update: ElementUpdate): number | undefined {
    const size = update.value === null ? 0 : checkValue(update.value);
    if (typeof size !== 'number') {
      this.#settle(batch, index, { code: 'rejected', key: update.key, message: size.message });
      return undefined;
    }
    const request: MemoryRequest = { key: update.key, value: update.value, deleted: update.value === null, ts: this.clock.now(), seq: 0, answer: undefined, index, batch };
    this.gate.submit(request);
    // The gate answers stale or queue_full at once; that answer comes out in #pump.
    return request.answer === undefined || request.answer.code === 'applied' ? request.ts : undefined;
  }

  /** Completes every unit held while `holdReplication` was set. */
  releaseReplication(): void {
    this.holdReplication = false;
    for (const unit of this.#held.splice(0)) this.gate.complete(unit, true);
    this.#pump();
  }

  sessionElements(session: string): ElementState[] {
    return this.reader.sessionElements(session);
  }

  currentTs(key: string): number {
    return this.reader.currentTs(key);
  }

  elementTs(key: string): number | undefined {
    return this.reader.elementTs(key);
  }

  sessionIds(): Iterable<string> {
    return this.reader.sessionIds();
  }

  onChange(listener: (change: Change) => void): () => void {
    return this.reader.onChange(listener);
  }

  #pump(): void {
    for (let unit = this.gate.pollUnit(); unit !== undefined; unit = this.gate.pollUnit()) {
      if (this.holdReplication) this.#held.push(unit);
      else this.gate.complete(unit, true);
    }
    for (let request = this.gate.pollAnswered(); request !== undefined; request = this.gate.pollAnswered()) {
      const answer = request.answer!;
      this.#answerCounts.set(answer.code, (this.#answerCounts.get(answer.code) ?? 0) + 1);
      const outcome: WriteOutcome =
        answer.code === 'applied'
          ? { code: 'applied', key: request.key, ts: request.ts }
          : { code: answer.code, key: request.key, message: answer.message };
      this.#settle(request.batch, request.index, outcome);
    }
  }

  /** Records one outcome (none for index -1: the end of the submission) and resolves the batch after the last. */
  #settle(batch: MemoryBatch, index: number, outcome: WriteOutcome | undefined): void {
    if (outcome !== undefined) batch.outcomes[index] = outcome;
    if (--batch.remaining === 0) batch.resolve(batch.outcomes);
  }
}
