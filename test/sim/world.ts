/** A deterministic world for the replication pair: two Replica nodes and
 *  element-API clients in one process, on the sans-IO state machines, over a
 *  seeded network. Time jumps to the next event, so minutes of simulated time
 *  take milliseconds. One seed gives one run, exactly.
 *
 *  The protocol runs over TCP, so faults are injected where TCP has them:
 *  per-connection delays (in order within a connection, reordered across
 *  connections), connection resets, partitions one-way and two-way (bytes
 *  wait while cut off, dials fail), crashes and restarts with an empty store,
 *  wall-clock skew and jumps per node, and clients that retry an update whose
 *  outcome they never learned (a duplicate). Clients delete as well as write,
 *  and tombstones are collected after a short retention (simulated time), so
 *  collection rounds run through all of it. */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { HybridClock, type Timestamp } from '../../src/core/clock.ts';
import { ElementStore } from '../../src/core/element-store.ts';
import { plainValue } from '../../src/core/json-text.ts';
import { SeededRandom } from '../../src/core/random.ts';
import type { JsonValue } from '../../src/core/value.ts';
import { WRITE_GATE_LIMITS_DEFAULT } from '../../src/core/write-gate.ts';
import { REPLICATION_LIMITS_DEFAULT, REPLICATION_TIMINGS_DEFAULT, type ReplicationTimings } from '../../src/replication/config.ts';
import { type Authenticator, DialerHandshake } from '../../src/replication/handshake.ts';
import { FrameDecoder, type Message, decodeBody, encodeFrame } from '../../src/replication/messages.ts';
import type { Outgoing } from '../../src/replication/node-core.ts';
import { Replica } from '../../src/replication/replica.ts';

const SECRET = new TextEncoder().encode('simulator secret, at least thirty-two bytes long');
const AUTH: Authenticator = {
  sign: (data) => createHmac('sha256', SECRET).update(data).digest(),
  verify: (data, proof) => {
    const expected = createHmac('sha256', SECRET).update(data).digest();
    return proof.length === expected.length && timingSafeEqual(expected, proof);
  },
};

export type NodeName = 'a' | 'b';
export const NODE_NAMES: readonly NodeName[] = ['a', 'b'];

/** One operation in a client's history (Jepsen style). */
export interface Operation {
  readonly client: number;
  readonly key: string;
  /** null for a delete. */
  readonly value: JsonValue;
  readonly deleted: boolean;
  /** The update's ts: chosen by the client, so a retry is the same update. */
  readonly ts: Timestamp;
  readonly invokedMs: number;
  outcome: 'pending' | 'ok' | 'fail' | 'unknown';
  /** For ok: which node acknowledged it, at which epoch. */
  node?: NodeName;
  epoch?: number;
  detail?: string;
  completedMs?: number;
}

export interface WorldOptions {
  readonly seed: number;
  readonly minReplicas: 0 | 1;
  readonly clients: number;
  readonly keys: number;
  readonly timings?: Partial<ReplicationTimings>;
}

/** A direction of one connection: bytes wait in order; `atMs` never decreases. */
interface Direction {
  readonly queue: { atMs: number; bytes: Uint8Array | 'close' }[];
  lastAtMs: number;
}

type EndpointRef = { readonly kind: 'node'; readonly node: NodeName; readonly id: number } | { readonly kind: 'client'; readonly client: number };

class Pipe {
  readonly toDialer: Direction = { queue: [], lastAtMs: 0 };
  readonly toAcceptor: Direction = { queue: [], lastAtMs: 0 };
  closed = false;
  constructor(
    readonly dialer: EndpointRef,
    readonly acceptor: EndpointRef,
    readonly from: string,
    readonly to: string,
  ) {}
}

export class SimNode {
  replica: Replica | undefined;
  store = new ElementStore({ elementsMax: 100_000, digest: { leafBits: 8, fanoutBits: 4 } });
  skewMs = 0;
  incarnation = 0;
  /** Connection id → pipe, for this incarnation. */
  readonly pipes = new Map<number, Pipe>();
  nextId = 1;
  /** Per incarnation and key, the last applied ts (W1: strictly increasing). */
  applied = new Map<string, Timestamp>();
  constructor(
    readonly name: NodeName,
    readonly nodeId: number,
    readonly startRole: 'primary' | 'secondary',
  ) {}
}

class SimClient {
  pipe: Pipe | undefined;
  target: NodeName = 'a';
  decoder = new FrameDecoder(REPLICATION_LIMITS_DEFAULT.frameBytesMax);
  handshake: DialerHandshake | undefined;
  open = false;
  readonly outstanding = new Map<number, Operation>();
  nextRequestId = 1;
  nextActionMs = 0;
  counter = 0;
  /** Updates whose outcome is unknown, to retry with the same ts. */
  readonly retries: Operation[] = [];
  readonly clock: HybridClock;
  constructor(
    readonly index: number,
    world: World,
  ) {
    this.clock = new HybridClock({ nowMs: () => world.wallMs(undefined) }, { nodeId: 3 + index, maxClockSkewMs: 60_000 });
  }
}

export interface Violation {
  readonly kind: string;
  readonly message: string;
}

export class World {
  nowMs = 0;
  readonly random: SeededRandom;
  readonly nodes: Record<NodeName, SimNode>;
  readonly clients: SimClient[] = [];
  readonly history: Operation[] = [];
  readonly violations: Violation[] = [];
  /** Directed cuts between places ('a', 'b', 'c0', …): bytes wait, dials fail. */
  readonly cut = new Set<string>();
  /** Every (epoch → node) that was primary and serving, to check one primary per epoch. */
  readonly primaryOfEpoch = new Map<number, NodeName>();
  readonly log: string[] = [];
  clientsActive = true;
  readonly timings: ReplicationTimings;
  /** Every pipe that may still carry bytes. */
  readonly #pipes = new Set<Pipe>();
  /** Events processed: a measure of the run's work. */
  events = 0;
  #baseWallMs = Date.UTC(2026, 10, 24);

  constructor(readonly options: WorldOptions) {
    this.random = new SeededRandom(options.seed);
    // Tombstones live 1 s and rounds run every 200 ms: a 10 s run collects through every fault.
    this.timings = { ...REPLICATION_TIMINGS_DEFAULT, syncCheckIntervalMs: 0, tombstoneRetentionMs: 1_000, tombstoneCollectIntervalMs: 200, ...options.timings };
    this.nodes = { a: new SimNode('a', 1, 'primary'), b: new SimNode('b', 2, 'secondary') };
    for (const name of NODE_NAMES) this.startNode(name);
    for (let i = 0; i < options.clients; i++) this.clients.push(new SimClient(i, this));
  }

  /** A node's wall clock (undefined: the clients' true time). */
  wallMs(node: NodeName | undefined): number {
    return this.#baseWallMs + this.nowMs + (node === undefined ? 0 : this.nodes[node].skewMs);
  }

  note(text: string): void {
    this.log.push(`${this.nowMs.toFixed(1)}ms ${text}`);
    if (this.log.length > 20000) this.log.shift();
  }

  // ---- nodes ---------------------------------------------------------------

  startNode(name: NodeName): void {
    const node = this.nodes[name];
    node.incarnation++;
    node.store = new ElementStore({ elementsMax: 100_000, digest: { leafBits: 8, fanoutBits: 4 } });
    node.applied = new Map();
    node.store.onApplied = (element) => {
      const last = node.applied.get(element.key) ?? 0;
      // Equal: the same write held again after its tombstone was collected here while the primary
      // kept it (a repair, element-store.ts restore); a ts names one write, so this is no reordering.
      if (element.ts < last || (element.ts === last && !element.deleted)) this.violation('W1', `node ${name} applied ${element.key} at ts ${element.ts} after ts ${last}`);
      node.applied.set(element.key, element.ts);
    };
    const clock = new HybridClock({ nowMs: () => this.wallMs(name) }, { nodeId: node.nodeId, maxClockSkewMs: 5000 });
    const bytes = new SeededRandom(this.random.nextUint32());
    node.replica = new Replica(
      node.store,
      { clock, authenticator: AUTH, randomBytes: (n) => Uint8Array.from({ length: n }, () => bytes.below(256)) },
      {
        nodeId: node.nodeId,
        epoch: 1,
        startRole: node.startRole,
        peerAddress: name === 'a' ? 'b:7400' : 'a:7400',
        minReplicas: this.options.minReplicas,
        syncRepair: true,
        testHooks: false,
        limits: { ...REPLICATION_LIMITS_DEFAULT, windowElementsMax: 256 },
        timings: this.timings,
        gate: WRITE_GATE_LIMITS_DEFAULT,
      },
      this.nowMs,
    );
    this.note(`start ${name} as ${node.startRole} (incarnation ${node.incarnation})`);
  }

  /** kill -9: the process and its memory are gone; peers see the connections reset. */
  crashNode(name: NodeName): void {
    const node = this.nodes[name];
    if (node.replica === undefined) return;
    node.replica = undefined;
    for (const pipe of node.pipes.values()) this.#closePipe(pipe, name);
    node.pipes.clear();
    this.note(`crash ${name}`);
  }

  // ---- the event loop ------------------------------------------------------

  /** Runs until `untilMs`, jumping from event to event. */
  runUntil(untilMs: number): void {
    let sameTime = 0;
    for (;;) {
      this.#drainAll();
      const next = this.#nextEventMs();
      if (next > untilMs) break;
      sameTime = next <= this.nowMs ? sameTime + 1 : 0;
      if (sameTime > 10_000) {
        // A deadline that handling does not move: a real node would spin its timer too.
        this.violation('spin', `10,000 events at ${this.nowMs} ms without time moving: some pollTimeoutMs() stays at or before now after handleTimeout`);
        this.nowMs += 1;
        sameTime = 0;
        continue;
      }
      this.nowMs = Math.max(this.nowMs, next);
      this.events++;
      this.#fire();
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
    this.#drainAll();
  }

  #nextEventMs(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const pipe of this.#allPipes()) {
      for (const direction of [pipe.toDialer, pipe.toAcceptor]) {
        const head = direction.queue[0];
        if (head !== undefined && !this.#blocked(pipe, direction)) next = Math.min(next, head.atMs);
      }
    }
    for (const name of NODE_NAMES) {
      const replica = this.nodes[name].replica;
      if (replica !== undefined) next = Math.min(next, replica.pollTimeoutMs());
    }
    if (this.clientsActive) for (const client of this.clients) next = Math.min(next, client.nextActionMs);
    return next;
  }

  #fire(): void {
    for (const pipe of this.#allPipes()) {
      for (const [direction, to] of [
        [pipe.toDialer, pipe.dialer],
        [pipe.toAcceptor, pipe.acceptor],
      ] as const) {
        while (direction.queue.length > 0 && direction.queue[0]!.atMs <= this.nowMs && !this.#blocked(pipe, direction)) {
          const item = direction.queue.shift()!;
          this.#deliver(pipe, to, item.bytes);
        }
      }
    }
    for (const name of NODE_NAMES) {
      const replica = this.nodes[name].replica;
      if (replica !== undefined && replica.pollTimeoutMs() <= this.nowMs) replica.handleTimeout(this.nowMs);
    }
    if (this.clientsActive) for (const client of this.clients) if (client.nextActionMs <= this.nowMs) this.#clientAct(client);
  }

  #allPipes(): Iterable<Pipe> {
    for (const pipe of this.#pipes) {
      if (pipe.closed && pipe.toDialer.queue.length === 0 && pipe.toAcceptor.queue.length === 0) this.#pipes.delete(pipe);
    }
    return this.#pipes;
  }

  #newPipe(dialer: EndpointRef, acceptor: EndpointRef, from: string, to: string): Pipe {
    const pipe = new Pipe(dialer, acceptor, from, to);
    this.#pipes.add(pipe);
    return pipe;
  }

  #blocked(pipe: Pipe, direction: Direction): boolean {
    return direction === pipe.toAcceptor ? this.cut.has(`${pipe.from}>${pipe.to}`) : this.cut.has(`${pipe.to}>${pipe.from}`);
  }

  #delayMs(): number {
    // Mostly fast, sometimes slow: a loaded machine's loopback.
    const r = this.random.below(100);
    return r < 80 ? 0.05 + this.random.below(50) / 100 : r < 97 ? 1 + this.random.below(20) : 20 + this.random.below(200);
  }

  #send(pipe: Pipe, direction: Direction, bytes: Uint8Array | 'close'): void {
    const atMs = Math.max(direction.lastAtMs, this.nowMs + this.#delayMs());
    direction.lastAtMs = atMs;
    direction.queue.push({ atMs, bytes });
  }

  #closePipe(pipe: Pipe, by: NodeName | 'client'): void {
    if (pipe.closed) return;
    pipe.closed = true;
    const dialerSide = (pipe.dialer.kind === 'node' && pipe.dialer.node === by) || (by === 'client' && pipe.dialer.kind === 'client');
    this.#send(pipe, dialerSide ? pipe.toAcceptor : pipe.toDialer, 'close');
  }

  #deliver(pipe: Pipe, to: EndpointRef, bytes: Uint8Array | 'close'): void {
    if (to.kind === 'client') {
      const client = this.clients[to.client]!;
      // Bytes still in flight on a connection the client already left go nowhere.
      if (client.pipe === pipe) this.#clientReceive(client, bytes);
      return;
    }
    const node = this.nodes[to.node];
    const replica = node.replica;
    if (replica === undefined || !node.pipes.has(to.id)) return;
    if (bytes === 'close') {
      node.pipes.delete(to.id);
      replica.handleDisconnect(to.id, this.nowMs);
    } else replica.handleBytes(to.id, bytes, this.nowMs);
  }

  #drainAll(): void {
    for (let round = 0; round < 100; round++) {
      let moved = false;
      for (const name of NODE_NAMES) {
        const node = this.nodes[name];
        const replica = node.replica;
        if (replica === undefined) continue;
        for (let out = replica.pollTransmit(); out !== undefined; out = replica.pollTransmit()) {
          moved = true;
          this.#carryOut(node, out);
        }
        for (let event = replica.pollEvent(); event !== undefined; event = replica.pollEvent()) {
          if (event.level !== 'debug') this.note(`${name}: ${event.message} ${JSON.stringify(event.fields ?? {})}`);
        }
        for (let change = replica.pollRoleChange(); change !== undefined; change = replica.pollRoleChange()) this.note(`${name} is now ${change.role} at epoch ${change.epoch}`);
        if (replica.serving) this.#recordPrimary(name, replica.epoch);
      }
      if (!moved) return;
    }
  }

  #recordPrimary(name: NodeName, epoch: number): void {
    const holder = this.primaryOfEpoch.get(epoch);
    if (holder === undefined) this.primaryOfEpoch.set(epoch, name);
    else if (holder !== name) this.violation('split_brain', `nodes ${holder} and ${name} both served as primary at epoch ${epoch}`);
  }

  #carryOut(node: SimNode, out: Outgoing): void {
    const replica = node.replica!;
    if (out.kind === 'dial') {
      const peerName: NodeName = node.name === 'a' ? 'b' : 'a';
      const peer = this.nodes[peerName];
      if (peer.replica === undefined || this.cut.has(`${node.name}>${peerName}`) || this.cut.has(`${peerName}>${node.name}`)) {
        replica.handleDialFailed(peer.replica === undefined ? 'connection refused' : 'connect timed out', this.nowMs);
        return;
      }
      const localId = node.nextId++;
      const remoteId = peer.nextId++;
      const pipe = this.#newPipe({ kind: 'node', node: node.name, id: localId }, { kind: 'node', node: peerName, id: remoteId }, node.name, peerName);
      node.pipes.set(localId, pipe);
      peer.pipes.set(remoteId, pipe);
      peer.replica.handleConnect(remoteId, this.nowMs);
      replica.handleDialed(localId, this.nowMs);
      return;
    }
    const pipe = node.pipes.get(out.connectionId);
    if (pipe === undefined) return;
    const isDialer = pipe.dialer.kind === 'node' && pipe.dialer.node === node.name && pipe.dialer.id === out.connectionId;
    if (out.kind === 'send') this.#send(pipe, isDialer ? pipe.toAcceptor : pipe.toDialer, out.bytes);
    else {
      node.pipes.delete(out.connectionId);
      this.#closePipe(pipe, node.name);
    }
  }

  // ---- clients -------------------------------------------------------------

  #clientAct(client: SimClient): void {
    client.nextActionMs = this.nowMs + 2 + this.random.below(40);
    if (client.pipe === undefined || client.pipe.closed) return this.#clientConnect(client);
    if (!client.open || client.outstanding.size >= 4) return;
    const retry = client.retries.shift();
    if (retry !== undefined) return this.#clientSend(client, retry.key, retry.value, retry.deleted, retry.ts);
    // Mostly a few hot keys; one update in five goes to one of many cold keys, whose tombstones
    // live long enough to be collected (and which are written again after that).
    const cold = this.random.below(5) === 0;
    const key = cold ? `s/sim/cold${this.random.below(64)}` : `s/sim/k${this.random.below(this.options.keys)}`;
    // A delete: one update in five on a hot key, one in two on a cold one.
    const deleted = this.random.below(cold ? 2 : 5) === 0;
    const value = deleted ? null : { c: client.index, n: client.counter++ };
    this.#clientSend(client, key, value, deleted, client.clock.now());
  }

  #clientSend(client: SimClient, key: string, value: JsonValue, deleted: boolean, ts: Timestamp): void {
    const op: Operation = { client: client.index, key, value, deleted, ts, invokedMs: this.nowMs, outcome: 'pending' };
    this.history.push(op);
    const requestId = client.nextRequestId++;
    client.outstanding.set(requestId, op);
    this.#send(client.pipe!, client.pipe!.toAcceptor, encodeFrame({ type: 'update', requestId, key, ts, deleted, value }));
  }

  #clientConnect(client: SimClient): void {
    const target = this.nodes[client.target];
    const place = `c${client.index}`;
    if (target.replica === undefined || this.cut.has(`${place}>${target.name}`) || this.cut.has(`${target.name}>${place}`)) {
      client.target = client.target === 'a' ? 'b' : 'a';
      client.nextActionMs = this.nowMs + 20;
      return;
    }
    const id = target.nextId++;
    const pipe = this.#newPipe({ kind: 'client', client: client.index }, { kind: 'node', node: target.name, id }, place, target.name);
    target.pipes.set(id, pipe);
    client.pipe = pipe;
    client.open = false;
    client.decoder = new FrameDecoder(REPLICATION_LIMITS_DEFAULT.frameBytesMax);
    const bytes = new SeededRandom(this.random.nextUint32());
    client.handshake = new DialerHandshake({ role: 'client', nodeId: 3 + client.index, epoch: 0 }, AUTH, Uint8Array.from({ length: 32 }, () => bytes.below(256)));
    target.replica.handleConnect(id, this.nowMs);
    this.#send(pipe, pipe.toAcceptor, encodeFrame(client.handshake.start()));
  }

  #clientReceive(client: SimClient, bytes: Uint8Array | 'close'): void {
    if (bytes === 'close') return this.#clientLost(client, 'connection closed');
    const bodies = client.decoder.push(bytes);
    if (!Array.isArray(bodies)) return this.#clientLost(client, `bad frame ${bodies.message}`);
    for (const body of bodies) {
      const message = decodeBody(body);
      if (!client.open) {
        const outcome = client.handshake!.handle(message);
        for (const reply of outcome.send) this.#send(client.pipe!, client.pipe!.toAcceptor, encodeFrame(reply));
        if (outcome.kind === 'open') client.open = true;
        else if (outcome.kind === 'refused') return this.#clientLost(client, outcome.reason);
        continue;
      }
      this.#clientResult(client, message);
    }
  }

  #clientResult(client: SimClient, message: Message): void {
    if (message.type !== 'result') return;
    const op = client.outstanding.get(message.requestId);
    if (op === undefined) return;
    client.outstanding.delete(message.requestId);
    op.completedMs = this.nowMs;
    const node = client.target;
    if (message.code === 'applied' || (message.code === 'stale' && message.ts === op.ts)) {
      // stale at exactly our ts: an earlier try of this very update was applied.
      op.outcome = 'ok';
      op.node = node;
      op.epoch = this.nodes[node].replica?.epoch ?? 0;
      return;
    }
    op.outcome = 'fail';
    op.detail = `${message.code}: ${message.detail}`;
    if (message.code === 'not_primary' || message.code === 'unavailable') {
      // This try may still take effect (unavailable) — retry the same update elsewhere.
      if (message.code === 'unavailable') client.retries.push(op);
      this.#clientSwitch(client);
    }
  }

  #clientLost(client: SimClient, reason: string): void {
    for (const op of client.outstanding.values()) {
      op.outcome = 'unknown';
      op.detail = reason;
      op.completedMs = this.nowMs;
      client.retries.push(op);
    }
    client.outstanding.clear();
    this.#clientSwitch(client);
  }

  #clientSwitch(client: SimClient): void {
    if (client.pipe !== undefined && !client.pipe.closed) this.#closePipe(client.pipe, 'client');
    client.pipe = undefined;
    client.open = false;
    client.target = client.target === 'a' ? 'b' : 'a';
    client.nextActionMs = this.nowMs + 5 + this.random.below(20);
    // Retries are bounded: an update retried many times is left as it is.
    if (client.retries.length > 64) client.retries.splice(0, client.retries.length - 64);
  }

  violation(kind: string, message: string): void {
    this.violations.push({ kind, message });
    this.note(`VIOLATION ${kind}: ${message}`);
  }

  /** Current value of `key` on `node`, for checkers. */
  valueOn(node: NodeName, key: string): { ts: Timestamp; value: JsonValue } | undefined {
    const element = this.nodes[node].store.get(key);
    return element === undefined || element.deleted ? undefined : { ts: element.ts, value: plainValue(element.storedValue) };
  }
}
