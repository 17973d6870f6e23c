/** Secondary side of synchronous replication. Pure: no sockets, timers or
 *  wall clock. It dials the primary (through its adapter), proves the shared
 *  secret, reports its digest root, then applies what the primary sends —
 *  newer timestamp wins, so resends and repairs are harmless — and
 *  acknowledges cumulatively; `collect` entries (tombstones the primary
 *  collected) are removed in stream order. It adopts the primary's
 *  collectedTsMax at sync_done, and holds whatever the primary sends even
 *  below its own. It answers the primary's digest, bucket and
 *  fetch requests from its own store, serves reads to clients, and answers
 *  writes with not_primary. It does not decide anything about failover. */

import { checkKey } from '../core/keys.ts';
import type { ElementStore } from '../core/element-store.ts';
import { DialerHandshake } from './handshake.ts';
import { ElementColumns, type Message, type WireElement, type WireKeyTs, decodeBody, decodeElementColumns, isElementFrame } from './messages.ts';
import { JsonText } from '../core/json-text.ts';
import { type ReplicationLimits, type ReplicationTimings, catchUpAckEvery, elementsPerFrame } from './config.ts';
import { type Connection, type ConnectionId, NodeBase, type NodeEnvironment } from './node-core.ts';

export interface SecondaryOptions {
  readonly nodeId: number;
  readonly epoch: number;
  /** Where the primary is, as clients should be told (`host:port`). */
  readonly primaryAddress: string;
  readonly limits: ReplicationLimits;
  readonly timings: ReplicationTimings;
  /** Accept `test_corrupt` requests: only for process-level tests, never in production. */
  readonly testHooks: boolean;
}

export type SecondaryState = 'disconnected' | 'connecting' | 'catching_up' | 'in_sync';

/** Nodes keep values as validated JSON text: parsed only if someone reads them. */
const LAZY_VALUES = { lazyValues: true };

/** Element frames (live units, catch-up) are decoded into columns, no object per element; everything else into messages. */
function decodeFrame(body: Uint8Array): Message | ElementColumns {
  return isElementFrame(body) ? decodeElementColumns(body) : decodeBody(body, LAZY_VALUES);
}

export class Secondary extends NodeBase {
  readonly options: SecondaryOptions;
  #state: SecondaryState = 'disconnected';
  #primary: Connection | undefined = undefined;
  #lastSeq = 0;
  /** The last seq acknowledged, and the bytes read since: catch-up elements are acknowledged in batches. */
  #ackedSeq = 0;
  #bytesSinceAck = 0;
  /** Set when a read applied a live unit: acknowledged at once, catch-up or not. */
  #liveApplied = false;
  readonly #catchUpAckEvery: { readonly elements: number; readonly bytes: number };
  #redialAtMs: number | undefined;
  readonly #perFrame: number;
  /** Elements applied from the primary since start: a metric. */
  appliedCount = 0;
  /** Elements removed by `collect` entries since start (a listed key this store no longer held is not counted). */
  collectedCount = 0;
  #primaryHeardMs: number | undefined = undefined;
  /** Starts at options.epoch; raised by following a primary of a newer epoch. */
  #epoch: number;
  #wasInSync = false;

  constructor(store: ElementStore, env: NodeEnvironment, options: SecondaryOptions, nowMs: number) {
    super(store, env, options.limits.frameBytesMax);
    this.options = options;
    this.#epoch = options.epoch;
    this.#perFrame = elementsPerFrame(options.limits);
    this.#catchUpAckEvery = catchUpAckEvery(options.limits);
    this.#redialAtMs = nowMs;
  }

  get state(): SecondaryState {
    return this.#state;
  }

  /** This node's epoch: it refuses to follow a primary of a lower one. */
  get epoch(): number {
    return this.#epoch;
  }

  /** When the primary was last heard from (kept after the link is lost); undefined if never. */
  get primaryLastHeardMs(): number | undefined {
    return this.#primaryHeardMs;
  }

  /**
   * True once this node has been in sync with a primary: its store then holds
   * every acknowledged update, and stays so (later catch-ups only add newer
   * state). Only such a node may be promoted.
   */
  get wasInSync(): boolean {
    return this.#wasInSync;
  }

  /** A connection to the primary was opened, as asked by a `dial` outgoing. */
  handleDialed(connectionId: ConnectionId, nowMs: number): void {
    const connection = this.newConnection(connectionId, nowMs);
    const handshake = new DialerHandshake({ role: 'secondary', nodeId: this.options.nodeId, epoch: this.#epoch }, this.env.authenticator, this.env.randomBytes(32));
    connection.handshake = handshake;
    this.#primary = connection;
    this.#state = 'connecting';
    this.send(connection, handshake.start());
  }

  /** Dialling the primary failed: try again after reconnectDelayMs. */
  handleDialFailed(reason: string, nowMs: number): void {
    this.log('warn', 'cannot reach the primary', { reason, retryInMs: this.options.timings.reconnectDelayMs });
    this.#state = 'disconnected';
    this.#redialAtMs = nowMs + this.options.timings.reconnectDelayMs;
  }

  /** A client connected to this node (reads). */
  handleConnect(connectionId: ConnectionId, nowMs: number): void {
    this.accept(connectionId, nowMs, { role: 'secondary', nodeId: this.options.nodeId, epoch: this.#epoch }, ['client']);
  }

  handleDisconnect(connectionId: ConnectionId, nowMs: number): void {
    const wasPrimary = this.connections.get(connectionId) === this.#primary;
    if (this.peerClosed(connectionId) !== undefined && wasPrimary) this.#redialAtMs = nowMs + this.options.timings.reconnectDelayMs;
  }

  handleBytes(connectionId: ConnectionId, bytes: Uint8Array, nowMs: number): void {
    const connection = this.connections.get(connectionId);
    if (connection === undefined) return;
    // Read before decoding: a malformed frame closes the connection, which forgets the primary.
    const primary = connection === this.#primary;
    const items = this.decodeWith(connection, bytes, nowMs, decodeFrame);
    if (items === undefined) {
      if (primary) this.#redialAtMs = nowMs + this.options.timings.reconnectDelayMs;
      return;
    }
    this.#liveApplied = false;
    for (const item of items) {
      if (connection.closed) break;
      if (item instanceof ElementColumns && primary && connection.handshake === undefined) {
        this.#primaryHeardMs = nowMs;
        if (item.type === 'replicate') this.#liveApplied = true;
        this.#applyColumns(connection, item, item.type === 'snapshot');
        continue;
      }
      // From anyone else (or before the handshake ends) the columns are the message they encode.
      const message = item instanceof ElementColumns ? item.toMessage() : item;
      if (connection.handshake !== undefined) this.#handshake(connection, message);
      else if (primary) {
        // Only an authenticated primary counts as heard: a peer that refuses us is no primary.
        this.#primaryHeardMs = nowMs;
        this.#handlePrimaryMessage(connection, message);
      }
      else this.#handleClientMessage(connection, message);
    }
    if (primary && !connection.closed) this.#acknowledge(connection, bytes.length);
    if (connection.closed && primary) this.#redialAtMs = nowMs + this.options.timings.reconnectDelayMs;
  }

  handleTimeout(nowMs: number): void {
    this.expireHandshakes(nowMs, this.options.timings.handshakeTimeoutMs);
    const primary = this.#primary;
    if (primary !== undefined && !primary.closed && nowMs - primary.lastHeardMs > this.options.timings.linkTimeoutMs) {
      this.log('warn', 'primary silent: dropping the link', { silentMs: nowMs - primary.lastHeardMs });
      this.close(primary, 'link timed out');
      this.#redialAtMs = nowMs + this.options.timings.reconnectDelayMs;
    }
    if (this.#state === 'disconnected' && this.#redialAtMs !== undefined && nowMs >= this.#redialAtMs) {
      this.#redialAtMs = undefined;
      this.#state = 'connecting';
      this.dial();
    }
  }

  pollTimeoutMs(): number {
    let next = Number.POSITIVE_INFINITY;
    if (this.#state === 'disconnected' && this.#redialAtMs !== undefined) next = this.#redialAtMs;
    const primary = this.#primary;
    if (primary !== undefined && !primary.closed) next = Math.min(next, primary.lastHeardMs + this.options.timings.linkTimeoutMs + 1);
    for (const connection of this.connections.values()) {
      if (connection.peer === undefined) next = Math.min(next, connection.openedAtMs + this.options.timings.handshakeTimeoutMs);
    }
    return next;
  }

  protected override forget(connection: Connection, reason: string): void {
    if (connection !== this.#primary) return;
    this.#primary = undefined;
    this.#state = 'disconnected';
    this.log('warn', 'lost the primary', { reason });
  }

  #handshake(connection: Connection, message: Message): void {
    const outcome = connection.handshake!.handle(message);
    for (const reply of outcome.send) this.send(connection, reply);
    if (outcome.kind === 'refused') {
      this.log('error', 'handshake refused', { connection: connection.id, code: outcome.code, reason: outcome.reason });
      this.close(connection, outcome.reason);
      return;
    }
    if (outcome.kind !== 'open') return;
    connection.handshake = undefined;
    connection.peer = outcome.peer;
    if (connection !== this.#primary) return;
    const welcome = outcome.welcome!;
    if (welcome.role !== 'primary') {
      this.log('error', 'the configured primary is not a primary', { role: welcome.role });
      this.close(connection, `peer is a ${welcome.role}, not a primary`);
      return;
    }
    if (welcome.epoch < this.#epoch) {
      this.log('error', 'refusing replication from a lower epoch', { theirs: welcome.epoch, ours: this.#epoch });
      this.close(connection, `primary epoch ${welcome.epoch} is below ours (${this.#epoch})`);
      return;
    }
    const digest = this.store.digest;
    if (welcome.digestLeafBits !== digest.leafBits || welcome.digestFanoutBits !== digest.fanoutBits) {
      this.log('error', 'digest shapes differ: check both nodes run the same version and settings', {
        theirs: `${welcome.digestLeafBits}/${welcome.digestFanoutBits}`,
        ours: `${digest.leafBits}/${digest.fanoutBits}`,
      });
      this.close(connection, 'digest shape mismatch');
      return;
    }
    this.#lastSeq = this.#ackedSeq = this.#bytesSinceAck = 0;
    this.#state = 'catching_up';
    this.#epoch = welcome.epoch;
    this.#primaryHeardMs = this.connections.get(connection.id)?.lastHeardMs;
    const [rootLow, rootHigh] = digest.root();
    this.send(connection, { type: 'sync_state', elementCount: this.store.size, rootLow, rootHigh, collectedTsMax: this.store.collectedTsMax });
    this.log('info', 'connected to the primary', { elements: this.store.size });
  }

  #handlePrimaryMessage(connection: Connection, message: Message): void {
    switch (message.type) {
      // 'replicate' and 'snapshot' come as columns (handleBytes, #applyColumns).
      case 'collect':
        return this.#collect(connection, message.firstSeq, message.entries);
      case 'heartbeat':
        // Everything sent before the heartbeat is applied (one stream, in order): acknowledge it all.
        this.#sendAck(connection);
        return;
      case 'sync_done':
        // The primary's bound: from now on both refuse the same writes to missing keys.
        this.store.raiseCollectedTsMax(message.collectedTsMax);
        this.#state = 'in_sync';
        this.#wasInSync = true;
        this.log('info', 'in sync with the primary', { elements: this.store.size, repaired: message.repaired });
        return;
      case 'digest_request':
        return this.#answerDigest(connection, message.requestId, message.level, message.indexes);
      case 'bucket_request':
        return this.#answerBuckets(connection, message.requestId, message.buckets);
      case 'fetch_request':
        return this.#answerFetch(connection, message.requestId, message.keys);
      default:
        this.log('warn', 'closing the link: unexpected message from the primary', { type: message.type });
        this.close(connection, `unexpected ${message.type} from the primary`);
    }
  }

  /**
   * One cumulative acknowledgement for everything applied from a read. While
   * catching up, a read that brought catch-up elements only is acknowledged
   * once catchUpAckEvery elements or bytes have gathered since the last one:
   * one acknowledgement per 64 KiB read woke the primary two thousand times
   * per million elements. A live unit (W2: its writer waits), sync_done and a
   * heartbeat are acknowledged at once; a primary configured with a window
   * smaller than that still hears one per heartbeat.
   */
  #acknowledge(connection: Connection, bytesRead: number): void {
    if (this.#lastSeq === this.#ackedSeq) return;
    this.#bytesSinceAck += bytesRead;
    const every = this.#catchUpAckEvery;
    const batching = this.#state === 'catching_up' && !this.#liveApplied;
    if (batching && this.#lastSeq - this.#ackedSeq < every.elements && this.#bytesSinceAck < every.bytes) return;
    this.#sendAck(connection);
  }

  #sendAck(connection: Connection): void {
    this.send(connection, { type: 'ack', seq: this.#lastSeq });
    this.#ackedSeq = this.#lastSeq;
    this.#bytesSinceAck = 0;
  }

  /**
   * Applies a `replicate` or `snapshot` frame, decoded as columns: the JSON text goes into the
   * store as it is. `held`: the elements are the primary's state (catch-up and repair), which
   * this store holds even below its collectedTsMax. A live unit is not: the primary judges it
   * again when the acknowledgement comes, against a bound at least this store's, and must find
   * the same answer, so it goes through `applyText` alone.
   */
  #applyColumns(connection: Connection, columns: ElementColumns, held: boolean): void {
    if (!this.#inSequence(connection, columns.firstSeq)) return;
    const { keys, ts, deleted, texts, textBytes } = columns;
    for (let i = 0; i < columns.count; i++) {
      const elementTs = ts[i]!;
      const problem = this.env.clock.observeTrusted(elementTs);
      if (problem !== undefined) return this.close(connection, problem.message);
      let outcome = this.store.applyText(keys[i]!, texts[i]!, textBytes[i]!, elementTs, deleted[i] === 1);
      // Missing here and at or below this store's collectedTsMax, yet the primary holds it (a
      // tombstone this store collected while the primary kept it, say): held here too.
      if (held && outcome === 'stale' && !this.store.has(keys[i]!)) {
        outcome = this.store.restore(keys[i]!, deleted[i] === 1 ? null : new JsonText(texts[i]!, textBytes[i]!), elementTs, deleted[i] === 1);
      }
      if (outcome === 'full') return this.#storeFull(connection, keys[i]!);
      this.#lastSeq++;
      this.appliedCount++;
    }
  }

  /**
   * A tombstone collection (or a repair's removal): each key held at exactly the listed ts
   * is removed and collectedTsMax rises to the largest listed ts, as the primary did when it
   * sent them, so both hold the same elements and the same bound. Every entry takes a seq
   * and is acknowledged like an element. Checked whole before anything changes.
   */
  #collect(connection: Connection, firstSeq: number, entries: readonly WireKeyTs[]): void {
    if (!this.#inSequence(connection, firstSeq)) return;
    for (const entry of entries) {
      const problem = this.env.clock.observeTrusted(entry.ts);
      if (problem !== undefined) return this.close(connection, problem.message);
    }
    this.collectedCount += this.store.removeCollected(entries);
    this.#lastSeq += entries.length;
  }

  #inSequence(connection: Connection, firstSeq: number): boolean {
    if (firstSeq === this.#lastSeq + 1) return true;
    this.log('error', 'replication sequence gap', { expected: this.#lastSeq + 1, got: firstSeq });
    this.close(connection, `sequence gap: expected ${this.#lastSeq + 1}, got ${firstSeq}`);
    return false;
  }

  #storeFull(connection: Connection, key: string): void {
    // Acknowledging would claim we hold it: close instead, and the primary answers unavailable.
    this.log('error', 'store full: cannot hold a replicated element', { key, elementsMax: this.store.elementsMax });
    this.close(connection, 'secondary store full');
  }

  #answerDigest(connection: Connection, requestId: number, level: number, indexes: readonly number[]): void {
    const digest = this.store.digest;
    if (level > digest.depth || indexes.some((i) => i >= digest.nodeCount(level))) {
      this.close(connection, `digest request outside the tree (level ${level})`);
      return;
    }
    this.send(connection, { type: 'digest_response', requestId, hashes: digest.nodeHashes(level, indexes) });
  }

  #answerBuckets(connection: Connection, requestId: number, buckets: readonly number[]): void {
    const leafCount = this.store.digest.leafCount;
    if (buckets.length === 0 || buckets.some((b) => b >= leafCount)) {
      this.close(connection, 'bucket request outside the tree');
      return;
    }
    // Stop before the answer would outgrow a frame; the primary asks again for the rest.
    const budget = this.options.limits.frameBytesMax - 64;
    const pairs: WireKeyTs[] = [];
    let bytes = 0;
    let answered = 0;
    for (const bucket of buckets) {
      const elements = this.store.bucketElements(bucket);
      let size = 0;
      for (const element of elements) size += 2 + element.key.length * 3 + 8;
      if (answered > 0 && bytes + size > budget) break;
      for (const element of elements) pairs.push({ key: element.key, ts: element.ts });
      bytes += size;
      answered++;
    }
    this.send(connection, { type: 'bucket_response', requestId, answered, pairs });
  }

  #answerFetch(connection: Connection, requestId: number, keys: readonly string[]): void {
    if (keys.length > this.#perFrame) {
      this.close(connection, `fetch of ${keys.length} keys exceeds ${this.#perFrame} per frame`);
      return;
    }
    const elements: WireElement[] = [];
    for (const key of keys) {
      const element = this.store.get(key);
      if (element !== undefined) elements.push({ key, ts: element.ts, deleted: element.deleted, value: element.storedValue });
    }
    this.send(connection, { type: 'fetch_response', requestId, elements });
  }

  #handleClientMessage(connection: Connection, message: Message): void {
    switch (message.type) {
      case 'get':
        return this.answerGet(connection, message.requestId, message.key);
      case 'update':
      case 'check_request':
        this.send(connection, { type: 'result', requestId: message.requestId, code: 'not_primary', ts: 0, detail: `this node is the secondary; the primary is ${this.options.primaryAddress}` });
        return;
      case 'test_corrupt':
        if (!this.options.testHooks || checkKey(message.key) !== undefined) {
          this.close(connection, 'test hooks are off on this node');
          return;
        }
        this.store.apply(message.key, message.value, message.ts, false);
        this.send(connection, { type: 'result', requestId: message.requestId, code: 'applied', ts: message.ts, detail: 'test hook: changed on the secondary only' });
        return;
      default:
        this.log('warn', 'closing a client connection: unexpected message', { connection: connection.id, type: message.type });
        this.close(connection, `a client cannot send ${message.type}`);
    }
  }
}
