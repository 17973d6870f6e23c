/** Primary side of synchronous replication (DESIGN.md §2–3). Pure: no
 *  sockets, timers or wall clock. The adapter feeds connections, bytes and
 *  time in, drains pollTransmit()/pollEvent(), and arms one timer at
 *  pollTimeoutMs().
 *
 *  - Client updates pass the write gate; each unit it releases goes to the
 *    secondary in a `replicate` frame (many per frame, each with a sequence
 *    number). The secondary applies and acknowledges cumulatively; only then
 *    does the gate apply the unit here and answer the requests (W2, W3).
 *  - At most `windowElementsMax` elements are unacknowledged; further units
 *    wait (at most `pendingUnitsMax`), and past that clients get queue_full:
 *    a slow secondary slows writers and never grows memory without limit.
 *  - A secondary that attaches reports its digest root. Equal: streaming at
 *    once. Empty: it is sent every element (a snapshot, in chunks, while
 *    writes continue). Otherwise the digests are drilled down and only the
 *    differing keys are sent or fetched (newer timestamp wins). Live units
 *    wait during that comparison: the secondary may hold newer elements.
 *  - Sync check: the same drill-down, reporting `in-sync` or the differing
 *    keys with both timestamps, and repairing them. Keys with an update or a
 *    collect entry in flight are skipped: their difference is the replication
 *    itself.
 *  - Tombstone collection: every `tombstoneCollectIntervalMs` a round removes
 *    tombstones older than `tombstoneRetentionMs` here and sends them as
 *    `collect` entries, sequenced with the units; the secondary removes the
 *    same ones. Both stores keep one `collectedTsMax` (exchanged in sync_state
 *    and sync_done), so they refuse the same writes to missing keys. A key the
 *    secondary holds below this store's own collections is removed there by a
 *    collect entry during catch-up and repair (#onFetchResponse). */

import { LOGICAL_MAX, NODE_ID_MAX, type Timestamp, formatTimestamp, packTimestamp, physicalMsOf } from '../core/clock.ts';
import { differingNodes } from '../core/digest.ts';
import type { ElementHandle, ElementStore } from '../core/element-store.ts';
import { type JsonValue, checkValue } from '../core/value.ts';
import { checkKey } from '../core/keys.ts';
import { JsonText } from '../core/json-text.ts';
import { type Difference, compareBucket } from '../core/sync-diff.ts';
import { type ReplicationUnit, type WriteRequest, WriteGate, type WriteGateLimits } from '../core/write-gate.ts';
import { AcceptorHandshake } from './handshake.ts';
import type { Message, WireElement, WireKeyTs } from './messages.ts';
import { BUCKETS_PER_REQUEST, CATCH_UP_WINDOW_SHARE, TOMBSTONES_PER_ROUND, type ReplicationLimits, type ReplicationTimings, collectEntriesPerFrame, elementsPerFrame } from './config.ts';
import { type Connection, type ConnectionId, NodeBase, type NodeEnvironment, type Outgoing } from './node-core.ts';

export interface PrimaryOptions {
  readonly nodeId: number;
  readonly epoch: number;
  /** 1: refuse writes (unavailable) with no secondary attached. 0: serve alone, degraded. */
  readonly minReplicas: 0 | 1;
  /** Repair the differences a periodic sync check finds. */
  readonly syncRepair: boolean;
  readonly limits: ReplicationLimits;
  readonly timings: ReplicationTimings;
  readonly gate: WriteGateLimits;
}

/** How a local (in-process) writer hears its answer: `ts` is the applied ts, or the current ts when stale. */
export type LocalAnswer = (code: string, ts: Timestamp, detail: string) => void;

interface ClientWrite extends WriteRequest {
  /** Undefined for a local write: the answer goes to `onAnswer`. */
  readonly connection: Connection | undefined;
  readonly requestId: number;
  readonly onAnswer: LocalAnswer | undefined;
}

type Unit = ReplicationUnit<ClientWrite>;

/** On-demand checks that may wait for a running check or catch-up to end. */
const WAITING_CHECKS_MAX = 64;

/** Catch-up frames sent per flush: about 2 MB with typical values, a few ms of encoding. */
const PUSH_FRAMES_PER_FLUSH = 64;


/** The result of a sync check. */
export interface SyncCheckResult {
  /** The node's monotonic clock when the check ended (for "how long ago"), not wall time. */
  readonly atMs: number;
  readonly inSync: boolean;
  /** Exact number of differing keys found. */
  readonly differenceCount: number;
  /** The first differencesReportMax of them; localTs is the primary's. */
  readonly differences: readonly Difference[];
  readonly repaired: number;
}

interface InFlightEntry {
  readonly seq: number;
  readonly unit: Unit | undefined;
  /** A collect entry's key: a sync check leaves it alone until acknowledged. */
  readonly collectKey: string | undefined;
  /** Estimated wire size, counted against windowBytesMax until acknowledged. */
  readonly bytes: number;
}

/** Wire size of an element, estimated without encoding it (plain values are guessed at 256 bytes). */
function elementBytes(element: WireElement): number {
  const value = element.value;
  return 16 + element.key.length + (element.deleted ? 0 : value instanceof JsonText ? value.byteLength : 256);
}

/** Nothing left to push: the repair list is sent and no snapshot walk is under way. */
function pushDone(link: Link): boolean {
  return link.pushCursor >= link.push.length && link.walkUntilTs === undefined;
}

interface Requester {
  readonly connection: Connection;
  readonly requestId: number;
}

/** A digest drill-down against the secondary: for catch-up or for a check. */
class SyncJob {
  level = 0;
  indexes: number[] = [0];
  buckets: number[] = [];
  requestId = 0;
  readonly differences: Difference[] = [];
  fetchKeys: string[] = [];
  repaired = 0;
  phase: 'digest' | 'buckets' | 'fetch' = 'digest';
  readonly requesters: Requester[] = [];
  constructor(
    readonly purpose: 'catch_up' | 'check',
    readonly repair: boolean,
    /**
     * A fetched element of a key this store lacks, at or below this ts, was collected here:
     * the secondary removes it (a collect entry) instead of this store copying it back.
     */
    readonly collectedHereTsMax: Timestamp,
  ) {}
}

class Link {
  phase: 'negotiating' | 'catching_up' | 'streaming' = 'negotiating';
  nextSeq = 1;
  ackedSeq = 0;
  readonly inFlight: InFlightEntry[] = [];
  inFlightHead = 0;
  inFlightBytes = 0;
  readonly pending: Unit[] = [];
  pendingHead = 0;
  /**
   * Elements still to send to bring the secondary up to date (snapshot or repair), as
   * handles: sending one reads it without a key lookup. Each goes out as it is when sent;
   * one removed meanwhile (a collected tombstone) is skipped.
   */
  push: ElementHandle[] = [];
  pushCursor = 0;
  /**
   * An empty secondary's snapshot: the store's oldest-first walk (startWalk), up to the
   * newest ts when it began (later writes reach the secondary as live units); undefined
   * when no snapshot is being sent. Taken after `push`.
   */
  walkUntilTs: number | undefined = undefined;
  /**
   * Collect entries still to send: the tombstones of a collection round (already removed
   * here) and keys a repair removes from the secondary. Sent within the catch-up share of
   * the window, after the live units.
   */
  collect: WireKeyTs[] = [];
  collectCursor = 0;
  /** Keys of collect entries queued or unacknowledged (with how many): a sync check skips them. */
  readonly collecting = new Map<string, number>();
  /** Catch-up ends when every element up to this seq is acknowledged. */
  catchUpLastSeq = 0;
  catchUpDone = false;
  /** This store's collectedTsMax before it adopted the secondary's (#negotiate). */
  collectedTsMaxAtAttach = 0;
  /** A digest catch-up: live units wait until every repair element and collect entry is sent (#flush). */
  repairBeforeUnits = false;
  job: SyncJob | undefined = undefined;
  lastSentMs: number;
  /** When the acknowledged seq last moved, or the window last went from empty to busy. */
  lastProgressMs: number;
  constructor(
    readonly connection: Connection,
    nowMs: number,
  ) {
    this.lastSentMs = nowMs;
    this.lastProgressMs = nowMs;
  }

  get inFlightCount(): number {
    return this.inFlight.length - this.inFlightHead;
  }

  get pendingCount(): number {
    return this.pending.length - this.pendingHead;
  }
}

export class Primary extends NodeBase {
  readonly gate: WriteGate<ClientWrite>;
  readonly options: PrimaryOptions;
  #link: Link | undefined = undefined;
  #nextRequestId = 1;
  /** Set when units may wait to be sent: the time to stamp the flush with. */
  #flushAtMs: number | undefined = undefined;
  #nextSyncCheckMs: number;
  #nextCollectMs: number;
  #lastCheck: SyncCheckResult | undefined = undefined;
  readonly #perFrame: number;
  readonly #collectPerFrame: number;
  /** Answers by code since start: a metric. */
  readonly answerCounts = new Map<string, number>();
  /** Waiting on-demand checks when none could start yet. */
  readonly #waitingChecks: { requester: Requester; repair: boolean }[] = [];
  /** Why client writes are refused `unavailable` for now; undefined while serving. */
  #writesHeldReason: string | undefined = undefined;

  constructor(store: ElementStore, env: NodeEnvironment, options: PrimaryOptions, nowMs: number) {
    super(store, env, options.limits.frameBytesMax);
    this.options = options;
    this.gate = new WriteGate<ClientWrite>(store, options.gate);
    this.#perFrame = elementsPerFrame(options.limits);
    this.#collectPerFrame = collectEntriesPerFrame(options.limits);
    this.#nextSyncCheckMs = nowMs + (options.timings.syncCheckIntervalMs || Number.POSITIVE_INFINITY);
    this.#nextCollectMs = nowMs + (options.timings.tombstoneCollectIntervalMs || Number.POSITIVE_INFINITY);
  }

  /** `streaming`, `catching_up`, `negotiating`, or `none` when no secondary is attached. */
  get secondaryState(): 'none' | Link['phase'] {
    return this.#link?.phase ?? 'none';
  }

  /** The last sync check's result, if one ran. */
  get lastSyncCheck(): SyncCheckResult | undefined {
    return this.#lastCheck;
  }

  /** Elements sent to the secondary and not acknowledged. */
  get replicationInFlight(): number {
    return this.#link?.inFlightCount ?? 0;
  }

  handleConnect(connectionId: ConnectionId, nowMs: number): void {
    this.accept(connectionId, nowMs, { role: 'primary', nodeId: this.options.nodeId, epoch: this.options.epoch }, ['secondary', 'client']);
  }

  handleDisconnect(connectionId: ConnectionId, _nowMs: number): void {
    if (this.peerClosed(connectionId) !== undefined) this.#pump();
  }

  handleBytes(connectionId: ConnectionId, bytes: Uint8Array, nowMs: number): void {
    const connection = this.connections.get(connectionId);
    if (connection === undefined) return;
    const messages = this.decode(connection, bytes, nowMs);
    if (messages === undefined) return;
    for (const message of messages) {
      if (connection.closed) break;
      this.#handleMessage(connection, message, nowMs);
    }
    this.#pump();
    // Units go out in pollTransmit: everything read in one turn shares one replicate frame.
    this.#flushAtMs = nowMs;
  }

  /** Sends what waits for the secondary, then hands out the next outgoing. */
  override pollTransmit(): Outgoing | undefined {
    if (this.#flushAtMs !== undefined) {
      const nowMs = this.#flushAtMs;
      this.#flushAtMs = undefined;
      this.#flush(nowMs);
    }
    return super.pollTransmit();
  }

  handleTimeout(nowMs: number): void {
    this.expireHandshakes(nowMs, this.options.timings.handshakeTimeoutMs);
    const link = this.#link;
    if (link !== undefined) {
      if (nowMs - link.connection.lastHeardMs > this.options.timings.linkTimeoutMs) {
        this.log('warn', 'secondary silent: dropping the link', { silentMs: nowMs - link.connection.lastHeardMs });
        this.close(link.connection, 'link timed out');
      } else if (link.inFlightCount > 0 && nowMs - link.lastProgressMs > this.options.timings.linkTimeoutMs) {
        // Heartbeats answered but nothing acknowledged: waiting longer would leave writers unanswered.
        this.log('warn', 'secondary acknowledges nothing: dropping the link', { stalledMs: nowMs - link.lastProgressMs, ackedSeq: link.ackedSeq });
        this.close(link.connection, 'no acknowledgement progress');
      } else if (nowMs >= link.lastSentMs + this.options.timings.heartbeatIntervalMs) {
        // The same sum as pollTimeoutMs: with fractional ms, `now - last >= interval` can be false at that deadline and spin.
        this.send(link.connection, { type: 'heartbeat', epoch: this.options.epoch, seq: link.nextSeq - 1 });
        link.lastSentMs = nowMs;
      }
    }
    if (nowMs >= this.#nextSyncCheckMs) {
      this.#nextSyncCheckMs = nowMs + this.options.timings.syncCheckIntervalMs;
      if (this.#link?.phase === 'streaming' && this.#link.job === undefined) this.#startJob(this.#link, 'check', this.options.syncRepair);
    }
    if (nowMs >= this.#nextCollectMs) {
      this.#nextCollectMs = nowMs + this.options.timings.tombstoneCollectIntervalMs;
      this.#collectRound();
    }
    this.#pump();
    this.#flush(nowMs);
  }

  /** When the adapter should call handleTimeout next. */
  pollTimeoutMs(): number {
    let next = Math.min(this.#nextSyncCheckMs, this.#nextCollectMs);
    const link = this.#link;
    if (link !== undefined) {
      next = Math.min(next, link.lastSentMs + this.options.timings.heartbeatIntervalMs, link.connection.lastHeardMs + this.options.timings.linkTimeoutMs + 1);
      if (link.inFlightCount > 0) next = Math.min(next, link.lastProgressMs + this.options.timings.linkTimeoutMs + 1);
    }
    for (const connection of this.connections.values()) {
      if (connection.peer === undefined) next = Math.min(next, connection.openedAtMs + this.options.timings.handshakeTimeoutMs);
    }
    return next;
  }

  /** Starts an on-demand sync check; the result arrives as an event and in lastSyncCheck. */
  requestSyncCheck(repair: boolean, nowMs: number): boolean {
    const link = this.#link;
    if (link?.phase !== 'streaming' || link.job !== undefined) return false;
    this.#startJob(link, 'check', repair);
    this.#flush(nowMs);
    return true;
  }

  /**
   * Refuses client writes `unavailable` with `reason` until called with
   * undefined. The Replica holds them while it does not yet know whether its
   * peer is primary at a newer epoch, so a restarted old primary never
   * acknowledges a write beside the promoted one.
   */
  holdWrites(reason: string | undefined): void {
    this.#writesHeldReason = reason;
  }

  /** Drops all in-flight work (shutdown): every waiting request is answered unavailable. */
  shutdown(reason: string): void {
    this.gate.abortAll(reason);
    this.#deliverAnswers();
    this.closeAll(reason);
  }

  protected override forget(connection: Connection, reason: string): void {
    const link = this.#link;
    if (link === undefined || link.connection !== connection) return;
    this.#link = undefined;
    if (link.walkUntilTs !== undefined) this.store.endWalk();
    const failReason = `secondary link lost: ${reason}`;
    for (let i = link.inFlightHead; i < link.inFlight.length; i++) {
      const unit = link.inFlight[i]!.unit;
      if (unit !== undefined) this.gate.complete(unit, false, failReason);
    }
    for (let i = link.pendingHead; i < link.pending.length; i++) this.gate.complete(link.pending[i]!, false, failReason);
    for (const requester of link.job?.requesters ?? []) this.#sendCheckUnavailable(requester, failReason);
    for (const waiting of this.#waitingChecks.splice(0)) this.#sendCheckUnavailable(waiting.requester, failReason);
    this.log('warn', 'secondary detached', { reason, inFlight: link.inFlightCount, pending: link.pendingCount });
  }

  #handleMessage(connection: Connection, message: Message, nowMs: number): void {
    const handshake = connection.handshake;
    if (handshake instanceof AcceptorHandshake) {
      const outcome = handshake.handle(message);
      for (const reply of outcome.send) this.send(connection, reply);
      if (outcome.kind === 'refused') {
        this.log('warn', 'refused a peer', { connection: connection.id, code: outcome.code, reason: outcome.reason });
        this.close(connection, outcome.reason);
      } else if (outcome.kind === 'open') {
        connection.handshake = undefined;
        connection.peer = outcome.peer;
        this.log('info', `${outcome.peer.role} connected`, { connection: connection.id, nodeId: outcome.peer.nodeId });
        if (outcome.peer.role === 'secondary') this.#attach(connection, nowMs);
      }
      return;
    }
    if (connection.peer?.role === 'secondary') this.#handleSecondaryMessage(connection, message, nowMs);
    else this.#handleClientMessage(connection, message, nowMs);
  }

  #attach(connection: Connection, nowMs: number): void {
    if (this.#link !== undefined) {
      this.log('info', 'a secondary reconnected: replacing the old link', { old: this.#link.connection.id, new: connection.id });
      this.close(this.#link.connection, 'replaced by a new secondary connection');
    }
    this.#link = new Link(connection, nowMs);
  }

  #handleSecondaryMessage(connection: Connection, message: Message, nowMs: number): void {
    const link = this.#link;
    if (link === undefined || link.connection !== connection) {
      this.close(connection, 'not the attached secondary');
      return;
    }
    switch (message.type) {
      case 'sync_state':
        return this.#negotiate(link, message, nowMs);
      case 'ack':
        return this.#acknowledge(link, message.seq);
      case 'digest_response':
        return this.#onDigestResponse(link, message.requestId, message.hashes);
      case 'bucket_response':
        return this.#onBucketResponse(link, message.requestId, message.answered, message.pairs);
      case 'fetch_response':
        return this.#onFetchResponse(link, message.requestId, message.elements);
      default:
        this.log('warn', 'closing the secondary link: unexpected message', { type: message.type });
        this.close(connection, `unexpected ${message.type} from the secondary`);
    }
  }

  #negotiate(link: Link, state: Message & { type: 'sync_state' }, nowMs: number): void {
    if (link.phase !== 'negotiating') {
      this.close(link.connection, 'sync_state sent twice');
      return;
    }
    // Both stores must refuse the same writes to missing keys: the higher bound wins, and the
    // secondary adopts it from sync_done. Units held meanwhile are judged against it on completion.
    link.collectedTsMaxAtAttach = this.store.collectedTsMax;
    this.store.raiseCollectedTsMax(state.collectedTsMax);
    const [rootLow, rootHigh] = this.store.digest.root();
    if (state.rootLow === rootLow && state.rootHigh === rootHigh && state.elementCount === this.store.size) {
      link.phase = 'streaming';
      this.send(link.connection, { type: 'sync_done', repaired: 0, collectedTsMax: this.store.collectedTsMax });
      this.log('info', 'secondary attached, already in sync', { elements: state.elementCount });
    } else if (state.elementCount === 0) {
      link.phase = 'catching_up';
      this.store.startWalk();
      link.walkUntilTs = this.store.newestTs;
      this.log('info', 'secondary attached empty: sending a snapshot', { elements: this.store.size });
    } else {
      link.phase = 'catching_up';
      link.repairBeforeUnits = true;
      this.#startJob(link, 'catch_up', true);
      this.log('info', 'secondary attached with data: comparing digests', { theirs: state.elementCount, ours: this.store.size });
    }
    this.#flush(nowMs);
  }

  #acknowledge(link: Link, seq: number): void {
    if (seq >= link.nextSeq) {
      this.close(link.connection, `ack of seq ${seq} that was never sent (next is ${link.nextSeq})`);
      return;
    }
    if (seq <= link.ackedSeq) return;
    link.ackedSeq = seq;
    link.lastProgressMs = link.connection.lastHeardMs;
    while (link.inFlightHead < link.inFlight.length && link.inFlight[link.inFlightHead]!.seq <= seq) {
      const entry = link.inFlight[link.inFlightHead++]!;
      link.inFlightBytes -= entry.bytes;
      if (entry.unit !== undefined) this.gate.complete(entry.unit, true);
      else if (entry.collectKey !== undefined) uncount(link.collecting, entry.collectKey);
    }
    if (link.inFlightHead === link.inFlight.length) link.inFlight.length = link.inFlightHead = 0;
    if (link.phase === 'catching_up' && link.catchUpDone && seq >= link.catchUpLastSeq) this.#streaming(link, 0);
  }

  #handleClientMessage(connection: Connection, message: Message, nowMs: number): void {
    switch (message.type) {
      case 'update':
        return this.#onUpdate(connection, message);
      case 'get':
        return this.answerGet(connection, message.requestId, message.key);
      case 'check_request': {
        const requester = { connection, requestId: message.requestId };
        const link = this.#link;
        if (link === undefined) return this.#sendCheckUnavailable(requester, 'no secondary is attached');
        if (link.job?.purpose === 'check' && link.job.repair === message.repair) {
          link.job.requesters.push(requester);
          return;
        }
        if (link.phase === 'streaming' && link.job === undefined) {
          this.#startJob(link, 'check', message.repair).requesters.push(requester);
          this.#flush(nowMs);
          return;
        }
        if (this.#waitingChecks.length >= WAITING_CHECKS_MAX) {
          this.send(connection, { type: 'result', requestId: message.requestId, code: 'queue_full', ts: 0, detail: `${WAITING_CHECKS_MAX} sync checks are already waiting` });
          return;
        }
        this.#waitingChecks.push({ requester, repair: message.repair });
        return;
      }
      default:
        this.log('warn', 'closing a client connection: unexpected message', { connection: connection.id, type: message.type });
        this.close(connection, `a client cannot send ${message.type}`);
    }
  }

  #onUpdate(connection: Connection, m: Message & { type: 'update' }): void {
    const reply = (code: string, ts: Timestamp, detail: string): void => {
      this.#count(code);
      this.send(connection, { type: 'result', requestId: m.requestId, code, ts, detail });
    };
    if (connection.outstanding >= this.options.limits.clientOutstandingMax) {
      return reply('queue_full', 0, `this connection has ${this.options.limits.clientOutstandingMax} requests outstanding (the limit)`);
    }
    if (m.key.length > this.options.limits.keyLengthMax) {
      return reply('rejected', 0, `invalid_key: key is ${m.key.length} characters; the limit is ${this.options.limits.keyLengthMax}`);
    }
    if (!m.deleted) {
      const problem = this.#valueProblem(m);
      if (problem !== undefined) return reply('rejected', 0, `invalid_value: ${problem}`);
    }
    if (this.#writesHeldReason !== undefined) return reply('unavailable', 0, this.#writesHeldReason);
    const link = this.#link;
    if (this.options.minReplicas > 0 && link === undefined) {
      return reply('unavailable', 0, 'no_secondary: no secondary is attached and minReplicas is 1');
    }
    if (link !== undefined && link.pendingCount >= this.options.limits.pendingUnitsMax) {
      return reply('queue_full', 0, `the replication queue holds ${this.options.limits.pendingUnitsMax} units (the limit)`);
    }
    let ts = m.ts;
    if (ts === 0) ts = this.env.clock.now();
    else {
      const problem = this.env.clock.observe(ts);
      if (problem !== undefined) return reply('rejected', 0, `${problem.code}: ${problem.message}`);
    }
    connection.outstanding++;
    this.gate.submit({ key: m.key, value: m.deleted ? null : m.value, deleted: m.deleted, ts, seq: 0, answer: undefined, connection, requestId: m.requestId, onAnswer: undefined });
  }

  /**
   * An update from this process (the conference server beside the node): the
   * same checks and write path as a client's `update`, with a fresh timestamp;
   * the answer comes to `onAnswer` (at once for a refusal). `value` null deletes.
   * The caller then has the adapter drain, so the unit goes out. Returns the
   * timestamp the update was given, or 0 when it was refused before reaching
   * the gate: a caller can record it before the answer (an idempotency marker
   * submitted in the same turn does). The gate may still answer it at once
   * (stale, queue_full): `onAnswer` has then been called before this returns.
   */
  submitLocal(key: string, value: JsonValue | null, onAnswer: LocalAnswer, nowMs: number): Timestamp {
    const reply = (code: string, detail: string): Timestamp => {
      this.#count(code);
      onAnswer(code, 0, detail);
      return 0;
    };
    const keyProblem = checkKey(key, this.options.limits.keyLengthMax);
    if (keyProblem !== undefined) return reply('rejected', `invalid_key: ${keyProblem.message}`);
    if (value !== null) {
      const size = checkValue(value, this.options.limits.valueBytesMax);
      if (typeof size !== 'number') return reply('rejected', `invalid_value: ${size.message}`);
    }
    const link = this.#link;
    if (this.options.minReplicas > 0 && link === undefined) return reply('unavailable', 'no_secondary: no secondary is attached and minReplicas is 1');
    if (link !== undefined && link.pendingCount >= this.options.limits.pendingUnitsMax) {
      return reply('queue_full', `the replication queue holds ${this.options.limits.pendingUnitsMax} units (the limit)`);
    }
    const ts = this.env.clock.now();
    this.gate.submit({ key, value, deleted: value === null, ts, seq: 0, answer: undefined, connection: undefined, requestId: 0, onAnswer });
    this.#pump();
    this.#flushAtMs = nowMs;
    return ts;
  }

  /** Size and shape of a decoded value: JSON text was validated by the decoder, so only its size is left. */
  #valueProblem(m: Message & { type: 'update' }): string | undefined {
    const max = this.options.limits.valueBytesMax;
    if (!(m.value instanceof JsonText)) {
      const size = checkValue(m.value, max);
      return typeof size === 'number' ? undefined : size.message;
    }
    if (m.value.byteLength > max) return `value is ${m.value.byteLength} bytes of JSON; the limit is ${max}`;
    return undefined;
  }

  /** Moves units from the gate to the link (or completes them at once without one), then answers. */
  #pump(): void {
    for (let unit = this.gate.pollUnit(); unit !== undefined; unit = this.gate.pollUnit()) {
      const link = this.#link;
      // While negotiating, units wait in `pending` and go out once the secondary's state is known.
      if (link !== undefined) link.pending.push(unit);
      else if (this.options.minReplicas === 0) this.gate.complete(unit, true);
      else this.gate.complete(unit, false, 'no_secondary');
    }
    this.#deliverAnswers();
  }

  #deliverAnswers(): void {
    for (let request = this.gate.pollAnswered(); request !== undefined; request = this.gate.pollAnswered()) {
      const answer = request.answer!;
      this.#count(answer.code);
      const connection = request.connection;
      if (connection !== undefined) {
        connection.outstanding--;
        if (connection.closed) continue;
      }
      let ts = 0;
      let detail = '';
      if (answer.code === 'applied') ts = request.ts;
      else if (answer.code === 'stale') {
        ts = answer.currentTs;
        detail = answer.message;
      } else if (answer.code === 'rejected' || answer.code === 'unavailable') detail = `${answer.reason}: ${answer.message}`;
      else detail = answer.message;
      if (connection === undefined) request.onAnswer!(answer.code, ts, detail);
      else this.send(connection, { type: 'result', requestId: request.requestId, code: answer.code, ts, detail });
    }
  }

  #count(code: string): void {
    this.answerCounts.set(code, (this.answerCounts.get(code) ?? 0) + 1);
  }

  /** Sends what the window allows: live units first, then catch-up or repair elements. */
  #flush(nowMs: number): void {
    const link = this.#link;
    if (link === undefined || link.phase === 'negotiating') return;
    const { windowElementsMax, windowBytesMax } = this.options.limits;
    const open = (): boolean => link.inFlightCount < windowElementsMax && link.inFlightBytes < windowBytesMax;
    // During a digest catch-up the secondary may hold newer elements than this store (a restarted
    // primary, a merge after serving alone): live units wait until those are copied here, so each is
    // judged against the newer of both stores (stale, W5) and none slips past the comparison.
    // They also wait until the repairs it found are sent: the secondary judges a unit against its
    // collectedTsMax where it lacks the key, and must first hold (or drop) what this store holds,
    // or a unit applied here would be refused there.
    const repairsUnsent = !pushDone(link) || link.collectCursor < link.collect.length;
    const holdUnits = link.job?.purpose === 'catch_up' || (link.phase === 'catching_up' && link.repairBeforeUnits && repairsUnsent);
    while (!holdUnits && link.pendingCount > 0 && open()) {
      const elements: WireElement[] = [];
      const firstSeq = link.nextSeq;
      while (link.pendingCount > 0 && elements.length < this.#perFrame && open()) {
        const unit = link.pending[link.pendingHead++]!;
        elements.push(unit); // its value is still the client's JSON text: it goes out as those bytes
        this.#track(link, unit, unit, nowMs);
      }
      if (link.pendingHead === link.pending.length) link.pending.length = link.pendingHead = 0;
      this.send(link.connection, { type: 'replicate', firstSeq, elements });
      link.lastSentMs = nowMs;
    }
    this.#flushPush(link, nowMs);
    this.#flushCollect(link, nowMs);
  }

  /**
   * Sends catch-up or repair elements. Frames per flush are bounded, so one flush never blocks
   * the loop for long; every acknowledgement triggers the next flush. They fill at most a
   * quarter of the byte window (CATCH_UP_WINDOW_SHARE): the rest stays free for live units,
   * which then go out at once and wait only behind that quarter, not behind a full window.
   */
  #flushPush(link: Link, nowMs: number): void {
    const { windowElementsMax, windowBytesMax } = this.options.limits;
    // At least one element always fits: in flight 0 is below any positive share.
    const elementsMax = windowElementsMax * CATCH_UP_WINDOW_SHARE;
    const bytesMax = windowBytesMax * CATCH_UP_WINDOW_SHARE;
    const open = (): boolean => link.inFlightCount < elementsMax && link.inFlightBytes < bytesMax;
    const pushing = !pushDone(link);
    for (let frames = 0; frames < PUSH_FRAMES_PER_FLUSH && !pushDone(link) && open(); frames++) {
      const elements: WireElement[] = [];
      const firstSeq = link.nextSeq;
      while (elements.length < this.#perFrame && open()) {
        const element = this.#nextPush(link);
        if (element === undefined) break;
        if (element.removed) continue; // collected meanwhile: nothing to send
        const wire = { key: element.key, ts: element.ts, deleted: element.deleted, value: element.storedValue };
        elements.push(wire);
        this.#track(link, wire, undefined, nowMs);
      }
      if (elements.length > 0) {
        this.send(link.connection, { type: 'snapshot', firstSeq, elements });
        link.lastSentMs = nowMs;
      }
    }
    if (pushing && pushDone(link)) {
      link.push = [];
      link.pushCursor = 0;
      this.#finishPush(link);
    }
  }

  /** The next element to push: repairs first, then the snapshot walk; undefined when both are done. */
  #nextPush(link: Link): ElementHandle | undefined {
    if (link.pushCursor < link.push.length) return link.push[link.pushCursor++];
    if (link.walkUntilTs === undefined) return undefined;
    const handle = this.store.walkNext();
    if (handle !== undefined && handle.ts <= link.walkUntilTs) return handle;
    // The newest end, or elements written since the snapshot began (sent as live units).
    this.store.endWalk();
    link.walkUntilTs = undefined;
    return undefined;
  }

  #track(link: Link, element: WireElement, unit: Unit | undefined, nowMs: number): void {
    this.#trackSeq(link, elementBytes(element), unit, undefined, nowMs);
  }

  #trackSeq(link: Link, bytes: number, unit: Unit | undefined, collectKey: string | undefined, nowMs: number): void {
    if (link.inFlightCount === 0) link.lastProgressMs = nowMs;
    link.inFlight.push({ seq: link.nextSeq++, unit, collectKey, bytes });
    link.inFlightBytes += bytes;
  }

  /** Sends queued collect entries, in the same share of the window as catch-up elements (#flushPush). */
  #flushCollect(link: Link, nowMs: number): void {
    if (link.collectCursor === link.collect.length) return;
    const { windowElementsMax, windowBytesMax } = this.options.limits;
    const open = (): boolean => link.inFlightCount < windowElementsMax * CATCH_UP_WINDOW_SHARE && link.inFlightBytes < windowBytesMax * CATCH_UP_WINDOW_SHARE;
    for (let frames = 0; frames < PUSH_FRAMES_PER_FLUSH && link.collectCursor < link.collect.length && open(); frames++) {
      const entries: WireKeyTs[] = [];
      const firstSeq = link.nextSeq;
      while (link.collectCursor < link.collect.length && entries.length < this.#collectPerFrame && open()) {
        const entry = link.collect[link.collectCursor++]!;
        entries.push(entry);
        this.#trackSeq(link, 16 + entry.key.length, undefined, entry.key, nowMs);
      }
      this.send(link.connection, { type: 'collect', firstSeq, entries });
      link.lastSentMs = nowMs;
    }
    if (link.collectCursor === link.collect.length) {
      link.collect = [];
      link.collectCursor = 0;
      this.#finishPush(link);
    }
  }

  /** Queues a collect entry for the secondary. */
  #queueCollect(link: Link, entry: WireKeyTs): void {
    link.collect.push(entry);
    link.collecting.set(entry.key, (link.collecting.get(entry.key) ?? 0) + 1);
  }

  /** All catch-up or repair elements (and collect entries) are sent. */
  #finishPush(link: Link): void {
    if (link.phase === 'catching_up' && link.job === undefined && pushDone(link) && link.collectCursor >= link.collect.length) this.#endCatchUp(link, 0);
  }

  /**
   * One tombstone collection round (docs/ARCHITECTURE.md, "Tombstones"). It takes tombstones
   * older than tombstoneRetentionMs that the gate is not busy with, at most
   * TOMBSTONES_PER_ROUND, removes them from this store at once (raising collectedTsMax), and,
   * with a secondary streaming, queues them as collect entries, which the secondary applies
   * in stream order. Removing here first, not on the acknowledgement, means every write
   * judged from now on sees the raised bound, as the secondary will when it applies it: had
   * this store waited, a later write creating a listed key with an explicit ts below the
   * round's largest would be applied here and refused there. The bound stays below every
   * unit in flight that creates a key, for the same reason the other way round. Skipped
   * while a secondary catches up or a digest job runs (they compare the two stores).
   */
  #collectRound(): void {
    const link = this.#link;
    if (link !== undefined && (link.phase !== 'streaming' || link.job !== undefined || link.collectCursor < link.collect.length)) {
      this.log('debug', 'tombstone collection: skipped this round', { secondary: link.phase, job: link.job?.purpose ?? null });
      return;
    }
    const nowMs = physicalMsOf(this.env.clock.now());
    const retentionMs = this.options.timings.tombstoneRetentionMs;
    if (nowMs <= retentionMs) return;
    let tsMax: Timestamp = packTimestamp(nowMs - retentionMs, LOGICAL_MAX, NODE_ID_MAX);
    const creating = this.gate.creatingInFlightTsMin();
    if (creating <= tsMax) tsMax = creating - 1;
    const due = this.store.dueTombstones(tsMax, TOMBSTONES_PER_ROUND);
    const removed = this.store.removeCollected(due);
    if (link !== undefined) for (const entry of due) this.#queueCollect(link, entry);
    this.log('debug', 'tombstone collection round', { collected: removed, tsMax: formatTimestamp(tsMax), collectedTsMax: formatTimestamp(this.store.collectedTsMax), sent: link !== undefined, tombstonesLeft: this.store.tombstoneCount });
  }

  #endCatchUp(link: Link, repaired: number): void {
    link.catchUpDone = true;
    link.catchUpLastSeq = link.nextSeq - 1;
    this.send(link.connection, { type: 'sync_done', repaired, collectedTsMax: this.store.collectedTsMax });
    if (link.ackedSeq >= link.catchUpLastSeq) this.#streaming(link, repaired);
  }

  #streaming(link: Link, repaired: number): void {
    link.phase = 'streaming';
    this.log('info', 'secondary caught up', { repaired, seq: link.ackedSeq });
    this.#startWaitingCheck(link);
  }

  #startWaitingCheck(link: Link): void {
    const first = this.#waitingChecks.shift();
    if (first === undefined) return;
    const job = this.#startJob(link, 'check', first.repair);
    job.requesters.push(first.requester);
    for (let more = this.#waitingChecks.shift(); more !== undefined; more = this.#waitingChecks.shift()) job.requesters.push(more.requester);
  }

  #startJob(link: Link, purpose: 'catch_up' | 'check', repair: boolean): SyncJob {
    // A catch-up copies what the secondary holds below the bound it brought (its own collections
    // made it, not this store's); a check runs with one bound shared by both.
    const job = new SyncJob(purpose, repair, purpose === 'catch_up' ? link.collectedTsMaxAtAttach : this.store.collectedTsMax);
    link.job = job;
    this.#requestDigest(link, job);
    return job;
  }

  #requestDigest(link: Link, job: SyncJob): void {
    job.requestId = this.#nextRequestId++;
    this.send(link.connection, { type: 'digest_request', requestId: job.requestId, level: job.level, indexes: job.indexes });
  }

  #onDigestResponse(link: Link, requestId: number, hashes: Uint32Array): void {
    const job = link.job;
    if (job === undefined || job.phase !== 'digest' || job.requestId !== requestId || hashes.length !== job.indexes.length * 2) {
      this.close(link.connection, `unexpected digest_response ${requestId}`);
      return;
    }
    const next = differingNodes(this.store.digest, job.level, job.indexes, hashes);
    if (next.length === 0) return this.#finishJob(link, job);
    if (job.level === this.store.digest.depth) {
      job.phase = 'buckets';
      job.buckets = next;
      return this.#requestBuckets(link, job);
    }
    job.level++;
    job.indexes = next;
    this.#requestDigest(link, job);
  }

  #requestBuckets(link: Link, job: SyncJob): void {
    job.requestId = this.#nextRequestId++;
    this.send(link.connection, { type: 'bucket_request', requestId: job.requestId, buckets: job.buckets.slice(0, BUCKETS_PER_REQUEST) });
  }

  #onBucketResponse(link: Link, requestId: number, answered: number, pairs: readonly { key: string; ts: Timestamp }[]): void {
    const job = link.job;
    const asked = Math.min(job?.buckets.length ?? 0, BUCKETS_PER_REQUEST);
    if (job === undefined || job.phase !== 'buckets' || job.requestId !== requestId || answered < 1 || answered > asked) {
      this.close(link.connection, `unexpected bucket_response ${requestId}`);
      return;
    }
    const local: { key: string; ts: Timestamp }[] = [];
    for (const bucket of job.buckets.splice(0, answered)) local.push(...this.store.bucketElements(bucket));
    for (const difference of compareBucket(local, pairs)) {
      // A check skips keys in flight: their difference is the replication itself. A catch-up holds
      // live units back (see #flush), so every difference it finds is real and is repaired.
      if (job.purpose === 'check' && (this.gate.isBusy(difference.key) || link.collecting.has(difference.key))) continue;
      job.differences.push(difference);
    }
    if (job.buckets.length > 0) return this.#requestBuckets(link, job);
    if (job.repair) {
      for (const d of job.differences) {
        if (d.localTs <= d.remoteTs) job.fetchKeys.push(d.key);
        else {
          // Listed from this store a moment ago, in this same turn: it is here.
          const handle = this.store.handle(d.key);
          if (handle !== undefined) link.push.push(handle);
        }
      }
      job.repaired += link.push.length - link.pushCursor;
      if (job.fetchKeys.length > 0) {
        job.phase = 'fetch';
        return this.#requestFetch(link, job);
      }
    }
    this.#finishJob(link, job);
  }

  #requestFetch(link: Link, job: SyncJob): void {
    job.requestId = this.#nextRequestId++;
    this.send(link.connection, { type: 'fetch_request', requestId: job.requestId, keys: job.fetchKeys.slice(0, this.#perFrame) });
  }

  #onFetchResponse(link: Link, requestId: number, elements: readonly WireElement[]): void {
    const job = link.job;
    if (job === undefined || job.phase !== 'fetch' || job.requestId !== requestId) {
      this.close(link.connection, `unexpected fetch_response ${requestId}`);
      return;
    }
    const asked = new Set(job.fetchKeys.splice(0, this.#perFrame));
    for (const element of elements) {
      // In a catch-up a busy key's unit is held back: copying the newer element first makes that unit stale, as it is.
      if (!asked.has(element.key) || (job.purpose === 'check' && (this.gate.isBusy(element.key) || link.collecting.has(element.key)))) continue;
      if (element.ts <= job.collectedHereTsMax && !this.store.has(element.key)) {
        // A key missing here at or below the bound of this store's own collections: it was
        // deleted and collected here while the secondary kept it (a node that rejoins after the
        // other collected, a secondary that attaches after a round without one). Copying it back
        // would undo the delete, and leaving it would keep the stores differing for ever: the
        // secondary removes it, as a collect entry. (docs/ARCHITECTURE.md, "Tombstones", names
        // the one case where that drops a write: minReplicas 0 after both nodes served alone.)
        this.#queueCollect(link, { key: element.key, ts: element.ts });
        job.repaired++;
        continue;
      }
      // A secondary's element from the future is reported, not copied: one bad clock must not drag ours along.
      const problem = this.env.clock.observe(element.ts);
      if (problem !== undefined) {
        this.log('warn', 'sync repair: not copying an element from the secondary', { key: element.key, problem: problem.message });
        continue;
      }
      let outcome = this.store.apply(element.key, element.value, element.ts, element.deleted);
      // Missing here, below the bound adopted from the secondary (#negotiate): its own, so it holds it rightly.
      if (outcome === 'stale' && !this.store.has(element.key)) outcome = this.store.restore(element.key, element.value, element.ts, element.deleted);
      if (outcome === 'applied') job.repaired++;
    }
    if (job.fetchKeys.length > 0) return this.#requestFetch(link, job);
    this.#finishJob(link, job);
  }

  #finishJob(link: Link, job: SyncJob): void {
    link.job = undefined;
    const differenceCount = job.differences.length;
    if (job.purpose === 'catch_up') {
      this.log('info', 'digest comparison done', { differences: differenceCount, repaired: job.repaired });
      if (pushDone(link) && link.collectCursor >= link.collect.length) this.#endCatchUp(link, job.repaired);
      // else #flush ends the catch-up once the pushed elements and collect entries are sent.
    } else {
      const result: SyncCheckResult = {
        atMs: link.connection.lastHeardMs,
        inSync: differenceCount === 0,
        differenceCount,
        differences: job.differences.slice(0, this.options.limits.differencesReportMax),
        repaired: job.repaired,
      };
      this.#lastCheck = result;
      this.log(result.inSync ? 'info' : 'warn', result.inSync ? 'sync check: in-sync' : 'sync check: stores differ', {
        differences: differenceCount,
        repaired: job.repaired,
        keys: result.differences.slice(0, 10).map((d) => `${d.key} primary=${formatTimestamp(d.localTs)} secondary=${formatTimestamp(d.remoteTs)}`),
      });
      for (const requester of job.requesters) {
        this.send(requester.connection, {
          type: 'check_result',
          requestId: requester.requestId,
          inSync: result.inSync,
          repaired: result.repaired,
          differences: result.differences.map((d) => ({ key: d.key, primaryTs: d.localTs, secondaryTs: d.remoteTs })),
        });
      }
    }
    if (link.phase === 'streaming') this.#startWaitingCheck(link);
  }

  #sendCheckUnavailable(requester: Requester, reason: string): void {
    this.send(requester.connection, { type: 'result', requestId: requester.requestId, code: 'unavailable', ts: 0, detail: reason });
  }
}

function uncount(counts: Map<string, number>, key: string): void {
  const count = counts.get(key) ?? 0;
  if (count <= 1) counts.delete(key);
  else counts.set(key, count - 1);
}
