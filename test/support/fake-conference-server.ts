/** A protocol-faithful fake of the conference server's WebSocket API (api.ts),
 *  for SDK tests until the real server lands: the state a primary/secondary
 *  pair would hold (FakeConference, with the command dedupe table replication
 *  would carry), one node's protocol logic independent of transport (FakeNode:
 *  hello, numbered deltas with a bounded history for resume, commands,
 *  signalling, ping) with fault hooks, and a `ws` adapter on 127.0.0.1. */

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { API_PROTOCOL_VERSION, type KnownElement, type NodeInfo, type ServerMessage, type StreamPosition } from '../../src/conference/api.ts';
import type { Command, ElementState, ElementUpdate, ParticipantValue, Role } from '../../src/conference/model.ts';
import type { JsonValue } from '../../src/core/value.ts';
import { bridgeChanges } from '../../src/server/resume-bridge.ts';
import { type FakeActor, planCommand } from './fake-domain.ts';

export interface FakeClaims {
  readonly participant: string;
  /** A session id, or `*` for a service token. */
  readonly session: string;
  readonly role: Role;
}

type Outcome = { readonly ok: true; readonly duplicate: boolean } | { readonly ok: false; readonly code: string; readonly message: string };

/** Dedupe entries kept (oldest forgotten first): far more than any test sends. */
const RESULTS_MAX = 100_000;

/**
 * What the cluster holds, shared by the fake nodes the way replication would
 * make it: elements (newer wins, tombstones kept), issued tokens, and the
 * command results by id that make a resent command apply once.
 */
export class FakeConference {
  readonly #elements = new Map<string, ElementState>();
  readonly #tokens = new Map<string, FakeClaims>();
  readonly #results = new Map<string, Outcome>();
  readonly #listeners = new Set<(session: string, changes: readonly ElementState[]) => void>();
  /** How many times each command id was really executed (not answered from the dedupe table). */
  readonly executions = new Map<string, number>();
  #ts = 0;
  #tokenCount = 0;

  constructor(readonly nowMs: () => number = () => Date.now()) {}

  issueToken(claims: FakeClaims): string {
    const token = `fake-token-${++this.#tokenCount}-${claims.participant}`;
    this.#tokens.set(token, claims);
    return token;
  }

  claimsOf(token: string): FakeClaims | undefined {
    return this.#tokens.get(token);
  }

  read(key: string): JsonValue | null {
    return this.#elements.get(key)?.value ?? null;
  }

  /** The timestamp held for `key`, a deletion's included (nothing is collected here); 0 if never written. */
  currentTs(key: string): number {
    return this.#elements.get(key)?.ts ?? 0;
  }

  /** Live elements of a session, as a snapshot carries them. */
  sessionElements(session: string): ElementState[] {
    const prefix = `s/${session}/`;
    return [...this.#elements.values()].filter((e) => e.key.startsWith(prefix) && e.value !== null);
  }

  /** Writes updates with fresh timestamps, as one change batch (one delta per node). */
  write(session: string, updates: readonly ElementUpdate[]): ElementState[] {
    const changes = updates.map((u) => ({ key: u.key, ts: ++this.#ts, value: u.value }));
    for (const change of changes) this.#elements.set(change.key, change);
    for (const listener of this.#listeners) listener(session, changes);
    return changes;
  }

  onChanges(listener: (session: string, changes: readonly ElementState[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs a command once per id; a repeated id gets the first answer (`duplicate: true` when it succeeded). */
  execute(actor: FakeActor, id: string, session: string, command: Command): Outcome {
    const held = this.#results.get(id);
    if (held !== undefined) return held.ok ? { ok: true, duplicate: true } : held;
    this.executions.set(id, (this.executions.get(id) ?? 0) + 1);
    const list = (): { id: string; value: ParticipantValue }[] =>
      this.sessionElements(session)
        .filter((e) => /^s\/[^/]+\/p\/[^/]+$/.test(e.key))
        .map((e) => ({ id: e.key.slice(e.key.lastIndexOf('/') + 1), value: e.value as unknown as ParticipantValue }));
    const plan = planCommand((key) => this.read(key), list, actor, session, command, this.nowMs());
    const outcome: Outcome = plan.ok ? { ok: true, duplicate: false } : { ok: false, code: plan.error.code, message: plan.error.message };
    if (plan.ok && plan.updates.length > 0) this.write(session, plan.updates);
    this.#results.set(id, outcome);
    if (this.#results.size > RESULTS_MAX) this.#results.delete(this.#results.keys().next().value!);
    return outcome;
  }
}

/** How one connection reaches its client: the ws adapter, or a test's in-memory queue. */
export interface FakePeer {
  send(message: ServerMessage): void;
  close(): void;
}

/** Misbehaviour to inject; counters count down per delta (per session stream step). */
export interface FakeFaults {
  /** The next n deltas are numbered but sent to nobody: subscribers see a gap. */
  dropDeltas: number;
  /** The next n deltas are sent twice. */
  duplicateDeltas: number;
  /** Commands are executed but their results are not sent. */
  holdResults: boolean;
  /** Nothing at all is sent (a half-open connection: TCP up, the server gone quiet). */
  silent: boolean;
  /** The next n commands are answered `unavailable` without running (no secondary attached, say). */
  unavailable: number;
  /** The next n subscribes are refused `rate_limited`. */
  refuseSubscribes: number;
  /** Answer a resume it cannot replay with a snapshot even when the client sent `known` (as a server before bridging did). */
  noBridge: boolean;
}

interface SessionStreamState {
  seq: number;
  /** The last `historyMax` deltas, oldest first. */
  readonly history: { readonly seq: number; readonly changes: readonly ElementState[] }[];
}

export interface FakeConnection {
  readonly number: number;
  claims: FakeClaims | undefined;
  readonly subscriptions: Set<string>;
  handle(message: unknown): void;
  /** The peer closed. */
  closed(): void;
}

export interface FakeNodeOptions {
  readonly nodeId: number;
  readonly role: 'primary' | 'secondary';
  readonly epoch?: number;
  /** Deltas kept per session for resume. */
  readonly historyMax?: number;
}

let instanceCount = 0;

/** One server node's side of the protocol, transport-agnostic. */
export class FakeNode {
  role: 'primary' | 'secondary';
  epoch: number;
  /** What `not_primary` answers name. */
  primaryUrl: string | null = null;
  readonly nodeId: number;
  readonly historyMax: number;
  readonly faults: FakeFaults = { dropDeltas: 0, duplicateDeltas: 0, holdResults: false, silent: false, unavailable: 0, refuseSubscribes: 0, noBridge: false };
  /** Every command received: id, connection, executed or answered not_primary. Test-only, grows with the test. */
  readonly commandLog: { readonly id: string; readonly connection: number; readonly type: string }[] = [];
  /** Every subscribe: what it asked to resume from and how it was answered. Test-only. */
  readonly subscribeLog: { readonly session: string; readonly resume: StreamPosition | undefined; readonly answer: 'resumed' | 'bridged' | 'snapshot' | 'refused' }[] = [];
  readonly #streams = new Map<string, SessionStreamState>();
  readonly #connections = new Map<FakeConnection, FakePeer>();
  readonly #instance = ++instanceCount;
  readonly #detach: () => void;
  #connectionCount = 0;

  constructor(
    readonly conference: FakeConference,
    options: FakeNodeOptions,
  ) {
    this.nodeId = options.nodeId;
    this.role = options.role;
    this.epoch = options.epoch ?? 1;
    this.historyMax = options.historyMax ?? 1_000;
    this.#detach = conference.onChanges((session, changes) => this.#publish(session, changes));
  }

  /** Identifies this node instance and epoch: a resume from another stream gets a snapshot. */
  get stream(): string {
    return `fake-${this.nodeId}-${this.#instance}-e${this.epoch}`;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  info(): NodeInfo {
    return { nodeId: this.nodeId, role: this.role, epoch: this.epoch, primaryUrl: this.role === 'primary' ? null : this.primaryUrl };
  }

  seqOf(session: string): number {
    return this.#streams.get(session)?.seq ?? 0;
  }

  connect(peer: FakePeer): FakeConnection {
    const connection: FakeConnection = {
      number: ++this.#connectionCount,
      claims: undefined,
      subscriptions: new Set(),
      handle: (message) => this.#handle(connection, message),
      closed: () => this.#connections.delete(connection),
    };
    this.#connections.set(connection, peer);
    return connection;
  }

  /**
   * Becomes the primary under the next epoch. The stream id changes with the
   * epoch, so live subscribers get a fresh snapshot under the new id (else
   * their next resume would name a stream this node no longer has).
   */
  promote(): void {
    this.role = 'primary';
    this.epoch++;
    this.primaryUrl = null;
    for (const connection of this.#connections.keys()) {
      for (const session of connection.subscriptions) {
        const elements = this.conference.sessionElements(session);
        this.#send(connection, { type: 'snapshot', session, stream: this.stream, seq: this.seqOf(session), elements, resumed: false, reason: 'promoted' });
      }
    }
  }

  /** Closes every connection (the clients see them drop). */
  dropConnections(): void {
    for (const [connection, peer] of [...this.#connections]) {
      this.#connections.delete(connection);
      peer.close();
    }
  }

  /** The node dies: it stops following the cluster and drops every connection. */
  detach(): void {
    this.#detach();
    this.dropConnections();
  }

  #streamOf(session: string): SessionStreamState {
    let stream = this.#streams.get(session);
    if (stream === undefined) this.#streams.set(session, (stream = { seq: 0, history: [] }));
    return stream;
  }

  #publish(session: string, changes: readonly ElementState[]): void {
    const stream = this.#streamOf(session);
    const seq = ++stream.seq;
    stream.history.push({ seq, changes });
    if (stream.history.length > this.historyMax) stream.history.shift();
    if (this.faults.dropDeltas > 0) {
      this.faults.dropDeltas--;
      return;
    }
    const copies = this.faults.duplicateDeltas > 0 ? 2 : 1;
    if (copies === 2) this.faults.duplicateDeltas--;
    for (const [connection, peer] of this.#connections) {
      if (!connection.subscriptions.has(session) || this.faults.silent) continue;
      for (let i = 0; i < copies; i++) peer.send({ type: 'delta', session, seq, changes });
    }
    this.#removeDeparted(session, changes);
  }

  /** As the real server: a participant kicked or denied stops following the session, told why after the delta that says so. */
  #removeDeparted(session: string, changes: readonly ElementState[]): void {
    for (const change of changes) {
      const presence = (change.value as { presence?: unknown } | null)?.presence;
      if (!change.key.startsWith(`s/${session}/p/`) || (presence !== 'kicked' && presence !== 'denied')) continue;
      const participant = change.key.slice(change.key.lastIndexOf('/') + 1);
      for (const connection of this.#connections.keys()) {
        if (connection.claims?.participant !== participant || !connection.subscriptions.delete(session)) continue;
        this.#send(connection, { type: 'unsubscribed', session, reason: presence });
      }
    }
  }

  #send(connection: FakeConnection, message: ServerMessage): void {
    if (!this.faults.silent) this.#connections.get(connection)?.send(message);
  }

  #fatal(connection: FakeConnection, code: string, message: string): void {
    this.#send(connection, { type: 'error', code, message, fatal: true });
    const peer = this.#connections.get(connection);
    this.#connections.delete(connection);
    peer?.close();
  }

  #handle(connection: FakeConnection, raw: unknown): void {
    if (!this.#connections.has(connection)) return;
    const message = raw as { type?: unknown } & Record<string, unknown>;
    if (connection.claims === undefined) return this.#hello(connection, message);
    switch (message.type) {
      case 'subscribe':
        return this.#subscribe(connection, message['session'] as string, message['resume'] as StreamPosition | undefined, message['known'] as KnownElement[] | undefined);
      case 'unsubscribe':
        connection.subscriptions.delete(message['session'] as string);
        return;
      case 'command':
        return this.#command(connection, message['id'] as string, message['session'] as string, message['command'] as Command);
      case 'signal':
        return this.#signal(connection, message['session'] as string, message['to'] as string, message['payload']);
      case 'ping':
        return this.#send(connection, { type: 'pong', id: message['id'] as string });
      default:
        return this.#send(connection, { type: 'error', code: 'invalid_message', message: `unknown type ${String(message.type)}`, fatal: false });
    }
  }

  #hello(connection: FakeConnection, message: Record<string, unknown>): void {
    if (message['type'] !== 'hello') return this.#fatal(connection, 'hello_required', 'the first message must be hello');
    if (message['protocol'] !== API_PROTOCOL_VERSION) return this.#fatal(connection, 'unsupported_protocol', `protocol ${String(message['protocol'])} is not ${API_PROTOCOL_VERSION}`);
    const claims = this.conference.claimsOf(String(message['token']));
    if (claims === undefined) return this.#fatal(connection, 'unauthenticated', 'the token is not valid');
    connection.claims = claims;
    this.#send(connection, { type: 'welcome', participant: claims.participant, session: claims.session, role: claims.role, service: claims.session === '*', node: this.info() });
  }

  #mayAccess(connection: FakeConnection, session: string): boolean {
    const claims = connection.claims!;
    return claims.session === '*' || claims.session === session;
  }

  #subscribe(connection: FakeConnection, session: string, resume: StreamPosition | undefined, known: readonly KnownElement[] | undefined): void {
    const refusal = !this.#mayAccess(connection, session) ? 'wrong_session' : this.faults.refuseSubscribes > 0 ? 'rate_limited' : undefined;
    if (refusal !== undefined) {
      // As the real server: an error, then `unsubscribed` naming the session with the error's code.
      if (refusal === 'rate_limited') this.faults.refuseSubscribes--;
      this.subscribeLog.push({ session, resume, answer: 'refused' });
      this.#send(connection, { type: 'error', code: refusal, message: `subscribe to ${session} refused`, fatal: false });
      return this.#send(connection, { type: 'unsubscribed', session, reason: refusal });
    }
    connection.subscriptions.add(session);
    const stream = this.#streamOf(session);
    const oldestHeld = stream.history[0]?.seq ?? stream.seq + 1;
    const canResume = resume !== undefined && resume.stream === this.stream && resume.seq <= stream.seq && resume.seq >= oldestHeld - 1;
    this.subscribeLog.push({ session, resume, answer: canResume ? 'resumed' : 'snapshot' });
    if (canResume) {
      this.#send(connection, { type: 'resumed', session, stream: this.stream, seq: resume.seq });
      for (const delta of stream.history) {
        if (delta.seq > resume.seq) this.#send(connection, { type: 'delta', session, seq: delta.seq, changes: delta.changes });
      }
      return;
    }
    const reason = resume === undefined ? null : resume.stream !== this.stream ? `stream ${resume.stream} is not ${this.stream}` : `seq ${resume.seq} is no longer held`;
    const elements = this.conference.sessionElements(session);
    // As the real server: with `known`, the changes from the client's mirror to the state now (the server's own pure bridge).
    const bridge = reason === null || known === undefined || this.faults.noBridge ? undefined : bridgeChanges(known, elements, (key) => this.conference.currentTs(key));
    if (bridge?.ok === true) {
      this.subscribeLog[this.subscribeLog.length - 1] = { session, resume, answer: 'bridged' };
      return this.#send(connection, { type: 'resumed', session, stream: this.stream, seq: stream.seq, changes: bridge.changes, reason: reason! });
    }
    this.#send(connection, { type: 'snapshot', session, stream: this.stream, seq: stream.seq, elements, resumed: false, reason });
  }

  #command(connection: FakeConnection, id: string, session: string, command: Command): void {
    this.commandLog.push({ id, connection: connection.number, type: command.type });
    if (this.role !== 'primary') {
      return this.#send(connection, { type: 'result', id, ok: false, code: 'not_primary', message: `node ${this.nodeId} is a secondary`, primaryUrl: this.primaryUrl });
    }
    const claims = connection.claims!;
    if (!this.#mayAccess(connection, session)) {
      return this.#send(connection, { type: 'result', id, ok: false, code: 'wrong_session', message: `the token is for session ${claims.session}` });
    }
    if (this.faults.unavailable > 0) {
      this.faults.unavailable--;
      return this.#send(connection, { type: 'result', id, ok: false, code: 'unavailable', message: 'no secondary is attached' });
    }
    const actor = { participant: claims.participant, tokenRole: claims.role, service: claims.session === '*' };
    const outcome = this.conference.execute(actor, id, session, command);
    if (!this.faults.holdResults) this.#send(connection, { type: 'result', id, ...outcome } as ServerMessage);
  }

  #signal(connection: FakeConnection, session: string, to: string, payload: unknown): void {
    const from = connection.claims!.participant;
    for (const [other, peer] of this.#connections) {
      if (other.claims?.participant === to && (other.claims.session === session || other.claims.session === '*')) {
        if (!this.faults.silent) peer.send({ type: 'signal', session, from, payload });
        return;
      }
    }
    this.#send(connection, { type: 'error', code: 'not_found', message: `${to} is not connected to session ${session}`, fatal: false });
  }
}

/** A FakeNode served over WebSocket at `ws://127.0.0.1:{port}/v1/ws`. */
export class FakeConferenceServer {
  readonly #sockets = new Set<WebSocket>();

  private constructor(
    readonly node: FakeNode,
    readonly wss: WebSocketServer,
    readonly port: number,
  ) {
    wss.on('connection', (ws) => {
      this.#sockets.add(ws);
      const connection = node.connect({
        send: (message) => {
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
        },
        close: () => ws.close(1000, 'server'),
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        try {
          connection.handle(JSON.parse(String(data)));
        } catch {
          ws.send(JSON.stringify({ type: 'error', code: 'invalid_message', message: 'not JSON', fatal: false }));
        }
      });
      ws.on('close', () => {
        this.#sockets.delete(ws);
        connection.closed();
      });
    });
  }

  /** Listens on 127.0.0.1 (`port` 0: an ephemeral one). */
  static async start(node: FakeNode, port = 0): Promise<FakeConferenceServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port, path: '/v1/ws' });
    await once(wss, 'listening');
    return new FakeConferenceServer(node, wss, (wss.address() as AddressInfo).port);
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/v1/ws`;
  }

  /** Cuts every connection abruptly (no close handshake): what a network drop looks like. */
  dropConnections(): void {
    for (const ws of this.#sockets) ws.terminate();
  }

  /** The server dies: the node stops, connections are cut, the port closes. */
  async stop(): Promise<void> {
    this.node.detach();
    this.dropConnections();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

/** A primary and a secondary over one FakeConference, each served on its own port. */
export class FakeCluster {
  private constructor(
    readonly conference: FakeConference,
    public primary: FakeConferenceServer,
    public secondary: FakeConferenceServer,
  ) {}

  static async start(options: { readonly historyMax?: number } = {}): Promise<FakeCluster> {
    const conference = new FakeConference();
    const historyMax = options.historyMax ?? 1_000;
    const primary = await FakeConferenceServer.start(new FakeNode(conference, { nodeId: 1, role: 'primary', historyMax }));
    const secondary = await FakeConferenceServer.start(new FakeNode(conference, { nodeId: 2, role: 'secondary', historyMax }));
    secondary.node.primaryUrl = primary.url;
    return new FakeCluster(conference, primary, secondary);
  }

  /** The primary dies and the secondary takes over under the next epoch; the roles swap. */
  async failover(): Promise<void> {
    const dead = this.primary;
    await dead.stop();
    this.secondary.node.promote();
    this.primary = this.secondary;
    this.secondary = dead;
  }

  async stop(): Promise<void> {
    await Promise.all([this.primary.stop(), this.secondary.stop()]);
  }
}
