/** The StateNode the conference server uses in a `confstate primary` or
 *  `confstate secondary` process: the replication state machine of this
 *  process, reached through calls rather than sockets. Knows nothing of HTTP;
 *  the adapter that runs the state machine is woken after each local write so
 *  the unit goes out in the same turn of the event loop. */

import type { Primary } from '../replication/primary.ts';
import type { Secondary } from '../replication/secondary.ts';
import type { NodeInfo } from '../conference/api.ts';
import type { ElementState, ElementUpdate } from '../conference/model.ts';
import { type Change, type NodeStatus, type StateNode, StoreReader, type WriteOutcome } from './state-node.ts';

export interface LocalNodeOptions {
  /** This node's public API URL, and the other node's (what `not_primary` points to). */
  readonly selfUrl: string | null;
  readonly peerUrl: string | null;
  /** Monotonic milliseconds (the clock the state machine's timeouts use). */
  readonly nowMs: () => number;
  /** Asks the adapter to drain the state machine's output soon (NodeTransport.wake). */
  readonly wake: () => void;
}

export type NodeRole = { readonly kind: 'primary'; readonly node: Primary } | { readonly kind: 'secondary'; readonly node: Secondary };

const OUTCOME_CODES = new Set(['stale', 'queue_full', 'unavailable', 'rejected']);

export class LocalNode implements StateNode {
  readonly #role: NodeRole;
  readonly #options: LocalNodeOptions;
  readonly #reader: StoreReader;

  constructor(role: NodeRole, options: LocalNodeOptions) {
    this.#role = role;
    this.#options = options;
    this.#reader = new StoreReader(role.node.store);
  }

  get info(): NodeInfo {
    const node = this.#role.node;
    const primary = this.#role.kind === 'primary';
    return {
      nodeId: node.options.nodeId,
      role: this.#role.kind,
      epoch: node.options.epoch,
      primaryUrl: primary ? this.#options.selfUrl : this.#options.peerUrl,
    };
  }

  status(): NodeStatus {
    const info = this.info;
    const answerCounts = new Map<string, number>();
    if (this.#role.kind === 'secondary') {
      const secondary = this.#role.node;
      return {
        info,
        ready: false,
        degraded: secondary.state !== 'in_sync',
        reason: `this node is the secondary (link to the primary: ${secondary.state}); writes go to the primary`,
        minReplicas: 1,
        secondaryState: 'not_applicable',
        queueDepth: 0,
        replicationInFlight: 0,
        elements: secondary.store.size,
        lastSyncCheck: null,
        answerCounts,
      };
    }
    const primary = this.#role.node;
    const minReplicas = primary.options.minReplicas;
    const state = primary.secondaryState;
    const streaming = state === 'streaming';
    const check = primary.lastSyncCheck;
    return {
      info,
      ready: streaming || minReplicas === 0,
      degraded: !streaming,
      reason: streaming ? null : minReplicas === 0 ? `serving alone: secondary ${state} (minReplicas 0)` : `secondary ${state} and minReplicas is 1: writes wait or are refused`,
      minReplicas,
      secondaryState: state,
      queueDepth: primary.gate.queuedCount,
      replicationInFlight: primary.replicationInFlight,
      elements: primary.store.size,
      lastSyncCheck: check === undefined ? null : { inSync: check.inSync, differenceCount: check.differenceCount, ageMs: this.#options.nowMs() - check.atMs },
      answerCounts: primary.answerCounts,
    };
  }

  write(updates: readonly ElementUpdate[]): Promise<WriteOutcome[]> {
    if (this.#role.kind !== 'primary') {
      const message = `this node is the secondary; the primary is ${this.#options.peerUrl ?? 'unknown'}`;
      return Promise.resolve(updates.map((u) => ({ code: 'not_primary' as const, key: u.key, message })));
    }
    const primary = this.#role.node;
    if (updates.length === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const outcomes = new Array<WriteOutcome>(updates.length);
      let remaining = updates.length;
      const nowMs = this.#options.nowMs();
      updates.forEach((update, index) => {
        primary.submitLocal(
          update.key,
          update.value,
          (code, ts, detail) => {
            outcomes[index] =
              code === 'applied'
                ? { code: 'applied', key: update.key, ts }
                : { code: OUTCOME_CODES.has(code) ? (code as 'stale') : 'rejected', key: update.key, message: detail };
            if (--remaining === 0) resolve(outcomes);
          },
          nowMs,
        );
      });
      this.#options.wake();
    });
  }

  sessionElements(session: string): ElementState[] {
    return this.#reader.sessionElements(session);
  }

  sessionIds(): Iterable<string> {
    return this.#reader.sessionIds();
  }

  onChange(listener: (change: Change) => void): () => void {
    return this.#reader.onChange(listener);
  }
}
