/** Prometheus metrics of one server app, in its own prom-client Registry (never
 *  the global one, so two apps in one process do not mix). Counters are
 *  incremented as things happen; gauges read the node's status, the session
 *  index and the gateway once per scrape. It does not know HTTP routes. */

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CommandType } from '../conference/model.ts';
import type { CommandObserver } from './command-service.ts';
import type { SessionIndex } from './session-index.ts';
import type { NodeStatus, StateNode } from './state-node.ts';

export interface MetricsSources {
  readonly node: StateNode;
  readonly index: SessionIndex;
  wsConnections(): number;
  subscriptions(): number;
  /** The replicated idempotency ring: records held (the horizon for retries after a failover), and updates they name not yet seen here. */
  dedupe(): { readonly records: number; readonly waitingUpdates: number };
}

/** Replication latency buckets, seconds: the write path's goal is p99 ≤ 20 ms (issue 4), so most resolution sits below it. */
const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class ServerMetrics implements CommandObserver {
  readonly registry = new Registry();
  readonly #commands: Counter<'type' | 'outcome'>;
  readonly #latency: Histogram;
  readonly #wsErrors: Counter<'code'>;
  readonly #purged: Counter<'outcome'>;
  /** The status read once per scrape and shared by every gauge. */
  #status: NodeStatus | undefined;

  constructor(readonly sources: MetricsSources) {
    const registers = [this.registry];
    this.#commands = new Counter({ name: 'confstate_commands_total', help: 'Conference commands by type and outcome (ok, duplicate, or an error code).', labelNames: ['type', 'outcome'], registers });
    this.#latency = new Histogram({ name: 'confstate_replication_latency_seconds', help: 'Time of each node.write call, observed once per applied update.', buckets: LATENCY_BUCKETS_S, registers });
    this.#wsErrors = new Counter({ name: 'confstate_ws_errors_total', help: 'Error messages sent on WebSocket connections, by code.', labelNames: ['code'], registers });
    this.#purged = new Counter({
      name: 'confstate_sessions_purged_total', help: 'Ended sessions whose elements the primary deleted after endedSessionRetentionMs (outcome ok), or whose purge failed and is tried again (failed).', labelNames: ['outcome'], registers,
    });
    this.#nodeMetrics(registers);
    this.#serverMetrics(registers);
  }

  commandDone(type: CommandType, outcome: string): void {
    this.#commands.inc({ type, outcome });
  }

  writeDone(durationS: number, appliedCount: number): void {
    for (let i = 0; i < appliedCount; i++) this.#latency.observe(durationS);
  }

  wsError(code: string): void {
    this.#wsErrors.inc({ code });
  }

  /** A purge sweep's outcome: sessions purged, and purges that failed. */
  sessionsPurged(purged: number, failed: number): void {
    if (purged > 0) this.#purged.inc({ outcome: 'ok' }, purged);
    if (failed > 0) this.#purged.inc({ outcome: 'failed' }, failed);
  }

  /** The exposition text. */
  async text(): Promise<string> {
    this.#status = this.sources.node.status();
    try {
      return await this.registry.metrics();
    } finally {
      this.#status = undefined;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #read(): NodeStatus {
    return this.#status ?? this.sources.node.status();
  }

  #nodeMetrics(registers: Registry[]): void {
    const read = () => this.#read();
    new Counter({
      name: 'confstate_updates_total', help: 'Element updates answered by the write path, by outcome.', labelNames: ['outcome'], registers,
      collect() {
        this.reset();
        for (const [outcome, count] of read().answerCounts) this.inc({ outcome }, count);
      },
    });
    const gauge = (name: string, help: string, value: (s: NodeStatus) => number | undefined) =>
      new Gauge({ name, help, registers, collect() {
        const v = value(read());
        if (v === undefined) this.reset();
        else this.set(v);
      } });
    gauge('confstate_write_queue_depth', 'Requests waiting in the write gate plus units waiting for the replication window.', (s) => s.queueDepth);
    gauge('confstate_replication_in_flight', 'Replication units sent and not yet acknowledged.', (s) => s.replicationInFlight);
    gauge('confstate_elements', 'Elements held by this node.', (s) => s.elements);
    gauge('confstate_tombstones', 'Tombstones (deleted elements not yet collected) held by this node, counted in confstate_elements.', (s) => s.tombstones);
    new Counter({
      name: 'confstate_tombstones_collected_total', help: "Elements this node's store removed by tombstone collection since start.", registers,
      collect() {
        this.reset();
        this.inc(read().tombstonesCollected);
      },
    });
    gauge('confstate_sync_check_in_sync', 'Result of the last sync check: 1 in sync, 0 differences found (absent before the first).', (s) => (s.lastSyncCheck === null ? undefined : Number(s.lastSyncCheck.inSync)));
    gauge('confstate_sync_check_differences', 'Differing keys found by the last sync check.', (s) => s.lastSyncCheck?.differenceCount);
    gauge('confstate_sync_check_age_seconds', 'Seconds since the last sync check.', (s) => (s.lastSyncCheck === null ? undefined : s.lastSyncCheck.ageMs / 1000));
    gauge('confstate_node_epoch', "The node's failover epoch.", (s) => s.info.epoch);
    gauge('confstate_node_degraded', '1 when serving without a secondary.', (s) => Number(s.degraded));
    gauge('confstate_node_ready', '1 when the node takes writes (what /readyz reports).', (s) => Number(s.ready));
    new Gauge({
      name: 'confstate_node_role', help: "1 for the node's current role.", labelNames: ['role'], registers,
      collect() {
        const role = read().info.role;
        this.set({ role: 'primary' }, Number(role === 'primary'));
        this.set({ role: 'secondary' }, Number(role === 'secondary'));
      },
    });
  }

  #serverMetrics(registers: Registry[]): void {
    const { index } = this.sources;
    const sources = this.sources;
    new Gauge({ name: 'confstate_sessions', help: 'Sessions created and not ended.', registers, collect() { this.set(index.liveCount); } });
    new Gauge({ name: 'confstate_participants_present', help: 'Participants joined or reconnecting, across sessions.', registers, collect() { this.set(index.presentCount); } });
    new Gauge({ name: 'confstate_ws_connections', help: 'Open WebSocket connections.', registers, collect() { this.set(sources.wsConnections()); } });
    new Gauge({ name: 'confstate_ws_subscriptions', help: 'Session subscriptions across WebSocket connections.', registers, collect() { this.set(sources.subscriptions()); } });
    new Gauge({
      name: 'confstate_dedupe_records', help: 'Idempotency records in the replicated ring (at most dedupeSlots): how many recent commands a retry after a failover is recognised for.', registers,
      collect() { this.set(sources.dedupe().records); },
    });
    new Gauge({
      name: 'confstate_dedupe_waiting_updates', help: 'Updates named by idempotency records that this node has not seen yet: non-zero for a moment while an update waits behind another write; one lost in a failover may stay counted until its record leaves the ring.', registers,
      collect() { this.set(sources.dedupe().waitingUpdates); },
    });
  }
}
