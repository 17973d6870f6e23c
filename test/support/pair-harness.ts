/** An in-memory network for the replication state machines: a Primary, a
 *  Secondary and any number of clients exchange frames through FIFO queues,
 *  in one process, with a manual clock. Deterministic; no sockets. */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { HybridClock } from '../../src/core/clock.ts';
import { ElementStore } from '../../src/core/element-store.ts';
import { SeededRandom } from '../../src/core/random.ts';
import type { JsonValue } from '../../src/core/value.ts';
import { REPLICATION_LIMITS_DEFAULT, REPLICATION_TIMINGS_DEFAULT, type ReplicationLimits, type ReplicationTimings } from '../../src/replication/config.ts';
import { type Authenticator, DialerHandshake } from '../../src/replication/handshake.ts';
import { FrameDecoder, type Message, decodeBody, encodeFrame } from '../../src/replication/messages.ts';
import type { Outgoing } from '../../src/replication/node-core.ts';
import { Primary } from '../../src/replication/primary.ts';
import { Secondary } from '../../src/replication/secondary.ts';

export const TEST_SECRET = new TextEncoder().encode('a test secret of at least thirty-two bytes');

/** An empty store shaped like a Pair's (its digest shape), e.g. for a secondary restarted with a store of its own. */
export function pairStore(elementsMax = 1_000_000): ElementStore {
  return new ElementStore({ elementsMax, digest: { leafBits: 8, fanoutBits: 4 } });
}

export function testAuthenticator(secret: Uint8Array = TEST_SECRET): Authenticator {
  return {
    sign: (data) => createHmac('sha256', secret).update(data).digest(),
    verify: (data, proof) => {
      const expected = createHmac('sha256', secret).update(data).digest();
      return proof.length === expected.length && timingSafeEqual(expected, proof);
    },
  };
}

type Endpoint = { kind: 'primary'; id: number } | { kind: 'secondary'; id: number } | { kind: 'client'; client: TestClient };

/** A sans-IO element-API client for tests: records every message it receives. */
export class TestClient {
  readonly received: Message[] = [];
  readonly decoder = new FrameDecoder(REPLICATION_LIMITS_DEFAULT.frameBytesMax);
  handshake: DialerHandshake | undefined;
  open = false;
  closed = false;
  nextRequestId = 1;
  /** Called for every message after the handshake. */
  onMessage: (message: Message) => void = () => undefined;
  constructor(
    readonly name: string,
    readonly connectionId: number,
    readonly target: 'primary' | 'secondary',
  ) {}
}

export interface PairOptions {
  readonly limits?: Partial<ReplicationLimits>;
  readonly timings?: Partial<ReplicationTimings>;
  readonly minReplicas?: 0 | 1;
  readonly elementsMax?: number;
  readonly seed?: number;
  readonly startSecondary?: boolean;
  /** Deliver what the primary sends the secondary in reads of at most this many bytes, as a socket may. */
  readonly secondaryReadBytesMax?: number;
}

export class Pair {
  nowMs = 1_000;
  wallMs = Date.UTC(2026, 10, 24);
  readonly primaryStore: ElementStore;
  secondaryStore: ElementStore;
  readonly primary: Primary;
  secondary: Secondary;
  readonly random: SeededRandom;
  readonly #links = new Map<string, Endpoint>();
  readonly #queue: { to: Endpoint; bytes: Uint8Array | 'close' }[] = [];
  #nextId = 1;
  secondaryRunning: boolean;
  readonly limits: ReplicationLimits;
  readonly timings: ReplicationTimings;

  constructor(readonly options: PairOptions = {}) {
    this.random = new SeededRandom(options.seed ?? 1);
    this.limits = { ...REPLICATION_LIMITS_DEFAULT, ...options.limits };
    this.timings = { ...REPLICATION_TIMINGS_DEFAULT, syncCheckIntervalMs: 0, ...options.timings };
    this.primaryStore = pairStore(options.elementsMax);
    this.secondaryStore = pairStore(options.elementsMax);
    this.primary = new Primary(
      this.primaryStore,
      this.#env(1),
      { nodeId: 1, epoch: 1, minReplicas: options.minReplicas ?? 1, syncRepair: true, limits: this.limits, timings: this.timings, gate: { queueLengthMax: 1024, queuedMax: 100_000, groupSizeMax: 256 } },
      this.nowMs,
    );
    this.secondary = this.#newSecondary();
    this.secondaryRunning = options.startSecondary ?? true;
    this.advance(1); // lets the secondary dial and attach
  }

  #env(nodeId: number) {
    return {
      clock: new HybridClock({ nowMs: () => this.wallMs }, { nodeId, maxClockSkewMs: 5000 }),
      authenticator: testAuthenticator(),
      randomBytes: (count: number) => {
        const out = new Uint8Array(count);
        for (let i = 0; i < count; i++) out[i] = this.random.nextUint32() & 0xff;
        return out;
      },
    };
  }

  #newSecondary(): Secondary {
    return new Secondary(this.secondaryStore, this.#env(2), { nodeId: 2, epoch: 1, primaryAddress: 'primary:7400', limits: this.limits, timings: this.timings, testHooks: true }, this.nowMs);
  }

  /** Replaces the secondary by a fresh process with `store` (default: empty). */
  restartSecondary(store?: ElementStore): void {
    this.killSecondary();
    this.secondaryStore = store ?? pairStore(this.options.elementsMax);
    this.secondary = this.#newSecondary();
    this.secondaryRunning = true;
    this.secondary.handleTimeout(this.nowMs); // dials; run() carries the rest
  }

  /** The secondary process dies: its connections drop, the primary sees them close. */
  killSecondary(): void {
    this.secondaryRunning = false;
    for (const [key, endpoint] of [...this.#links]) {
      if (key.startsWith('s:')) {
        this.#links.delete(key);
        if (endpoint.kind === 'primary') this.primary.handleDisconnect(endpoint.id, this.nowMs);
      }
    }
    this.#queue.splice(0, this.#queue.length, ...this.#queue.filter((item) => item.to.kind !== 'secondary'));
  }

  connectClient(name: string, target: 'primary' | 'secondary' = 'primary'): TestClient {
    const id = this.#nextId++;
    const client = new TestClient(name, id, target);
    this.#links.set(`${target === 'primary' ? 'p' : 's'}:${id}`, { kind: 'client', client });
    (target === 'primary' ? this.primary : this.secondary).handleConnect(id, this.nowMs);
    client.handshake = new DialerHandshake({ role: 'client', nodeId: 15, epoch: 0 }, testAuthenticator(), new Uint8Array(32).fill(id));
    this.#sendFromClient(client, client.handshake.start());
    return client;
  }

  /** Sends raw bytes from a client (for garbage and fuzz tests). */
  sendRaw(client: TestClient, bytes: Uint8Array): void {
    this.#queue.push({ to: { kind: client.target, id: client.connectionId } as Endpoint, bytes });
  }

  /** Queues raw bytes on the primary's link to the secondary, as if the primary sent them (malformed-frame tests). */
  sendRawToSecondary(bytes: Uint8Array): void {
    for (const [key, endpoint] of this.#links) {
      if (key.startsWith('p:') && endpoint.kind === 'secondary') {
        this.#queue.push({ to: endpoint, bytes });
        return;
      }
    }
    throw new Error('no link from the primary to the secondary');
  }

  send(client: TestClient, message: Message): void {
    this.#sendFromClient(client, message);
  }

  update(client: TestClient, key: string, value: JsonValue, ts = 0, deleted = false): number {
    const requestId = client.nextRequestId++;
    this.send(client, { type: 'update', requestId, key, value, ts, deleted });
    return requestId;
  }

  #sendFromClient(client: TestClient, message: Message): void {
    this.#queue.push({ to: { kind: client.target, id: client.connectionId } as Endpoint, bytes: encodeFrame(message) });
  }

  /** Delivers queued frames and polls both nodes until nothing moves (or `steps` deliveries). */
  run(steps = Number.POSITIVE_INFINITY): void {
    for (let i = 0; i < steps; i++) {
      this.#collect();
      const item = this.#queue.shift();
      if (item === undefined) return;
      this.#deliver(item.to, item.bytes);
    }
    this.#collect();
  }

  /** Advances time by `ms`, firing timeouts on the way. */
  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      this.run();
      const next = Math.min(this.primary.pollTimeoutMs(), this.secondaryRunning ? this.secondary.pollTimeoutMs() : Number.POSITIVE_INFINITY);
      if (next > end) break;
      this.wallMs += Math.max(0, next - this.nowMs);
      this.nowMs = Math.max(this.nowMs, next);
      this.primary.handleTimeout(this.nowMs);
      if (this.secondaryRunning) this.secondary.handleTimeout(this.nowMs);
    }
    this.wallMs += end - this.nowMs;
    this.nowMs = end;
    this.run();
  }

  #deliver(to: Endpoint, bytes: Uint8Array | 'close'): void {
    if (to.kind === 'client') {
      const client = to.client;
      if (bytes === 'close') {
        client.closed = true;
        return;
      }
      const bodies = client.decoder.push(bytes);
      if (!Array.isArray(bodies)) throw bodies;
      for (const body of bodies) {
        const message = decodeBody(body);
        client.received.push(message);
        if (!client.open && client.handshake !== undefined) {
          const outcome = client.handshake.handle(message);
          for (const reply of outcome.send) this.#sendFromClient(client, reply);
          if (outcome.kind === 'open') client.open = true;
          if (outcome.kind === 'refused') client.closed = true;
        } else client.onMessage(message);
      }
      return;
    }
    const node = to.kind === 'primary' ? this.primary : this.secondary;
    if (to.kind === 'secondary' && !this.secondaryRunning) return;
    if (bytes === 'close') node.handleDisconnect(to.id, this.nowMs);
    else node.handleBytes(to.id, bytes, this.nowMs);
  }

  #collect(): void {
    this.#drain('p', this.primary.pollTransmit.bind(this.primary));
    if (this.secondaryRunning) this.#drain('s', this.secondary.pollTransmit.bind(this.secondary));
    while (this.primary.pollEvent() !== undefined);
    while (this.secondary.pollEvent() !== undefined);
  }

  #drain(side: 'p' | 's', poll: () => Outgoing | undefined): void {
    for (let out = poll(); out !== undefined; out = poll()) {
      if (out.kind === 'dial') {
        const id = this.#nextId++;
        this.#links.set(`s:${id}`, { kind: 'primary', id });
        this.#links.set(`p:${id}`, { kind: 'secondary', id });
        this.primary.handleConnect(id, this.nowMs);
        this.secondary.handleDialed(id, this.nowMs);
        continue;
      }
      const peer = this.#links.get(`${side}:${out.connectionId}`);
      if (peer === undefined) continue;
      if (out.kind === 'send') {
        const readMax = peer.kind === 'secondary' ? (this.options.secondaryReadBytesMax ?? out.bytes.length) : out.bytes.length;
        for (let at = 0; at < out.bytes.length; at += readMax) this.#queue.push({ to: peer, bytes: out.bytes.subarray(at, at + readMax) });
      } else {
        this.#links.delete(`${side}:${out.connectionId}`);
        this.#queue.push({ to: peer, bytes: 'close' });
      }
    }
  }
}

/** Results a client received, by request id. */
export function results(client: TestClient): Map<number, Message & { type: 'result' }> {
  const out = new Map<number, Message & { type: 'result' }>();
  for (const message of client.received) if (message.type === 'result') out.set(message.requestId, message);
  return out;
}
