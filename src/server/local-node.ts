/** The StateNode the conference server uses in a `confstate primary` or
 *  `confstate secondary` process: the replication state machine of this
 *  process, reached through calls rather than sockets. Knows nothing of HTTP;
 *  the adapter that runs the state machine is woken after each local write so
 *  the unit goes out in the same turn of the event loop. */

import type { ElementStore } from '../core/element-store.ts';
import type { JsonValue } from '../core/value.ts';
import { Primary, type LocalAnswer } from '../replication/primary.ts';
import type { Secondary } from '../replication/secondary.ts';
import type { NodeInfo } from '../conference/api.ts';
import type { ElementState, ElementUpdate } from '../conference/model.ts';
import { type AssignedTs, type Change, type NodeStatus, type StateNode, StoreReader, type WriteOptions, type WriteOutcome } from './state-node.ts';

/** What LocalNode needs of the node it serves: a Replica (replication/replica.ts) fits. */
export interface NodeHandle {
  readonly store: ElementStore;
  readonly role: 'primary' | 'secondary';
  readonly epoch: number;
  /** Primary and taking writes. */
  readonly serving: boolean;
  readonly inner: Primary | Secondary;
  readonly options: { readonly nodeId: number; readonly minReplicas: 0 | 1 };
  /** Returns the update's timestamp, or 0 when it was refused before reaching the write gate. */
  submitLocal(key: string, value: JsonValue | null, onAnswer: LocalAnswer, nowMs: number): number;
}

export interface LocalNodeOptions {
  /** This node's public API URL, and the other node's (what `not_primary` points to). */
  readonly selfUrl: string | null;
  readonly peerUrl: string | null;
  /** Monotonic milliseconds (the clock the state machine's timeouts use). */
  readonly nowMs: () => number;
  /** Asks the adapter to drain the state machine's output soon (NodeTransport.wake). */
  readonly wake: () => void;
}

const OUTCOME_CODES = new Set(['stale', 'queue_full', 'unavailable', 'rejected', 'not_primary']);

export class LocalNode implements StateNode {
  readonly #node: NodeHandle;
  readonly #options: LocalNodeOptions;
  readonly #reader: StoreReader;
  #beforeSend: (() => void)[] = [];
  /** Set while runBeforeSend runs: the drain that called it sends what is written then. */
  #sending = false;

  constructor(node: NodeHandle, options: LocalNodeOptions) {
    this.#node = node;
    this.#options = options;
    this.#reader = new StoreReader(node.store);
  }

  get info(): NodeInfo {
    const node = this.#node;
    const primary = node.role === 'primary';
    return { nodeId: node.options.nodeId, role: node.role, epoch: node.epoch, primaryUrl: primary ? this.#options.selfUrl : this.#options.peerUrl };
  }

  nodeInfo(): NodeInfo {
    return this.info;
  }

  status(): NodeStatus {
    const info = this.info;
    const inner = this.#node.inner;
    if (!(inner instanceof Primary)) {
      return {
        info,
        ready: false,
        degraded: inner.state !== 'in_sync',
        reason: `this node is the secondary (link to the primary: ${inner.state}); writes go to the primary`,
        minReplicas: this.#node.options.minReplicas,
        secondaryState: 'not_applicable',
        queueDepth: 0,
        replicationInFlight: 0,
        elements: inner.store.size,
        tombstones: inner.store.tombstoneCount,
        tombstonesCollected: inner.store.collectedCount,
        lastSyncCheck: null,
        answerCounts: new Map(),
        readsComplete: inner.wasInSync,
      };
    }
    const minReplicas = this.#node.options.minReplicas;
    const state = inner.secondaryState;
    const streaming = state === 'streaming';
    const check = inner.lastSyncCheck;
    let reason: string | null = null;
    if (!this.#node.serving) reason = 'starting: asking the peer whether it is primary at a newer epoch';
    else if (!streaming) reason = minReplicas === 0 ? `serving alone: secondary ${state} (minReplicas 0)` : `secondary ${state} and minReplicas is 1: writes wait or are refused`;
    return {
      info,
      ready: this.#node.serving && (streaming || minReplicas === 0),
      degraded: !streaming,
      reason,
      minReplicas,
      secondaryState: state,
      queueDepth: inner.gate.queuedCount,
      replicationInFlight: inner.replicationInFlight,
      elements: inner.store.size,
      tombstones: inner.store.tombstoneCount,
      tombstonesCollected: inner.store.collectedCount,
      lastSyncCheck: check === undefined ? null : { inSync: check.inSync, differenceCount: check.differenceCount, ageMs: this.#options.nowMs() - check.atMs },
      answerCounts: inner.answerCounts,
      readsComplete: this.#node.serving,
    };
  }

  write(updates: readonly ElementUpdate[], options: WriteOptions = {}): Promise<WriteOutcome[]> {
    if (updates.length === 0) {
      options.onAssigned?.([]);
      return Promise.resolve([]);
    }
    return new Promise((resolve) => {
      const outcomes = new Array<WriteOutcome>(updates.length);
      // One extra count for the submission itself, released at the end: answers given at once cannot resolve it early.
      let remaining = updates.length + 1;
      const done = (): void => {
        if (--remaining === 0) resolve(outcomes);
      };
      const nowMs = this.#options.nowMs();
      const assigned: AssignedTs[] = [];
      let refusedAtOnce = false;
      updates.forEach((update, index) => {
        const ts = this.#submit(update, index, outcomes, done, nowMs);
        if (ts === undefined) refusedAtOnce = true;
        else assigned.push({ key: update.key, ts });
      });
      if (!refusedAtOnce) options.onAssigned?.(assigned);
      // Written from runBeforeSend, the drain that called it sends it next.
      if (!this.#sending) this.#options.wake();
      done();
    });
  }

  /** Runs `flush` at the start of the adapter's next drain, before it sends this turn's frames (see runBeforeSend). */
  beforeSend(flush: () => void): void {
    this.#beforeSend.push(flush);
    this.#options.wake();
  }

  /**
   * Runs what `beforeSend` was given, in order; the adapter calls it first
   * thing when it drains the state machine's output (NodeTransport's
   * `beforeDrain`), so writes made here leave in the same frame.
   */
  runBeforeSend(): void {
    if (this.#beforeSend.length === 0) return;
    const due = this.#beforeSend;
    this.#beforeSend = [];
    this.#sending = true;
    try {
      for (const flush of due) flush();
    } finally {
      this.#sending = false;
    }
  }

  /** Submits one update; its timestamp, or undefined when it was refused at once (answered, not applied, before submitLocal returned). */
  #submit(update: ElementUpdate, index: number, outcomes: WriteOutcome[], done: () => void, nowMs: number): number | undefined {
    const ts = this.#node.submitLocal(
      update.key,
      update.value,
      (code, ts, detail) => {
        if (code === 'applied') outcomes[index] = { code: 'applied', key: update.key, ts };
        else {
          const message = code === 'not_primary' ? `this node is the secondary; the primary is ${this.#options.peerUrl ?? 'unknown'}` : detail;
          outcomes[index] = { code: OUTCOME_CODES.has(code) ? (code as 'stale') : 'rejected', key: update.key, message };
        }
        done();
      },
      nowMs,
    );
    const answeredAtOnce = outcomes[index];
    return ts === 0 || (answeredAtOnce !== undefined && answeredAtOnce.code !== 'applied') ? undefined : ts;
  }

  sessionElements(session: string): ElementState[] {
    return this.#reader.sessionElements(session);
  }

  currentTs(key: string): number {
    return this.#reader.currentTs(key);
  }

  elementTs(key: string): number | undefined {
    return this.#reader.elementTs(key);
  }

  sessionIds(): Iterable<string> {
    return this.#reader.sessionIds();
  }

  onChange(listener: (change: Change) => void): () => void {
    return this.#reader.onChange(listener);
  }
}
