/** A deterministic world for the SDK's protocol core: one ClientCore and two
 *  FakeNodes (primary, secondary) over a simulated network whose every step —
 *  deliver, replay an old delta, lose a delta, cut the connection, write from
 *  elsewhere, submit a command, let time pass, fail over — is chosen by the
 *  test. No sockets, no timers: a run is a pure function of its steps. */

import fc from 'fast-check';
import type { ServerMessage } from '../../src/conference/api.ts';
import type { Command, ElementState, ElementUpdate } from '../../src/conference/model.ts';
import { SeededRandom } from '../../src/core/random.ts';
import { ClientCore, type CommandOutcome } from '../../src/client/client-core.ts';
import { FakeConference, type FakeConnection, FakeNode } from './fake-conference-server.ts';

export const SESSION = 'standup';
const URLS = ['ws://sim-1/v1/ws', 'ws://sim-2/v1/ws'];
const CLOSE = Symbol('close');

export type Step =
  | { readonly kind: 'deliverToServer' }
  | { readonly kind: 'deliverToClient' }
  /** A delta the client already got arrives again (a resend). */
  | { readonly kind: 'replayDelta'; readonly pick: number }
  /** The next delta to the client is lost (the client sees a gap). */
  | { readonly kind: 'loseDelta' }
  | { readonly kind: 'disconnect' }
  | { readonly kind: 'write'; readonly updates: readonly ElementUpdate[] }
  | { readonly kind: 'command'; readonly command: Command }
  | { readonly kind: 'time'; readonly ms: number }
  | { readonly kind: 'failover' };

const others = ['bo', 'cy'];
const writeArbitrary: fc.Arbitrary<Step> = fc
  .array(
    fc.oneof(
      fc.record({ who: fc.constantFrom(...others), raisedAtMs: fc.nat(100) }).map(({ who, raisedAtMs }) => ({ key: `s/${SESSION}/hand/${who}`, value: { raisedAtMs } })),
      fc.constantFrom(...others).map((who) => ({ key: `s/${SESSION}/hand/${who}`, value: null })),
      fc.record({ who: fc.constantFrom(...others), presence: fc.constantFrom('joined', 'left', 'reconnecting') }).map(({ who, presence }) => ({
        key: `s/${SESSION}/p/${who}`,
        value: { name: who, presence, joinedAtMs: 5 },
      })),
      fc.record({ who: fc.constantFrom(...others), muted: fc.boolean() }).map(({ who, muted }) => ({
        key: `s/${SESSION}/track/${who}/audio`,
        value: { published: true, muted, mutedBy: null },
      })),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((updates) => ({ kind: 'write', updates }) as const);

const commandArbitrary: fc.Arbitrary<Step> = fc
  .constantFrom<Command>(
    { type: 'raise_hand' },
    { type: 'lower_hand' },
    { type: 'publish_track', kind: 'audio' },
    { type: 'mute', participant: 'ada' },
    { type: 'unmute', participant: 'ada' },
    { type: 'lock' },
    { type: 'unlock' },
    { type: 'start_recording' },
    { type: 'kick', participant: 'nobody' }, // a definite error: not_found
  )
  .map((command) => ({ kind: 'command', command }) as const);

/** Steps with deliveries weighted up, so runs make progress between faults. */
export function stepArbitrary(withFailover: boolean): fc.Arbitrary<Step> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant({ kind: 'deliverToClient' } as const) },
    { weight: 5, arbitrary: fc.constant({ kind: 'deliverToServer' } as const) },
    { weight: 1, arbitrary: fc.nat(50).map((pick) => ({ kind: 'replayDelta', pick }) as const) },
    { weight: 1, arbitrary: fc.constant({ kind: 'loseDelta' } as const) },
    { weight: 1, arbitrary: fc.constant({ kind: 'disconnect' } as const) },
    { weight: 3, arbitrary: writeArbitrary },
    { weight: 3, arbitrary: commandArbitrary },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 3_000 }).map((ms) => ({ kind: 'time', ms }) as const) },
    { weight: withFailover ? 1 : 0, arbitrary: fc.constant({ kind: 'failover' } as const) },
  );
}

interface Link {
  readonly connection: number;
  readonly node: FakeNode;
  readonly server: FakeConnection;
  readonly toServer: string[];
  readonly toClient: (ServerMessage | typeof CLOSE)[];
  /** Deltas delivered on this link, for replays. */
  readonly delivered: ServerMessage[];
}

export class SdkSimulation {
  readonly conference = new FakeConference(() => this.nowMs);
  readonly nodes: FakeNode[];
  readonly core: ClientCore;
  /** Every command submitted, with its answer once it came. */
  readonly outcomes = new Map<string, CommandOutcome | undefined>();
  /** Every element change the core told the application, in order. */
  readonly told: ElementState[] = [];
  readonly token: string;
  nowMs = 1_000;
  #link: Link | undefined = undefined;
  #dead = new Set<FakeNode>();
  #commandCount = 0;

  /** `historyMax`: deltas each node keeps for resume; small values force snapshots. */
  constructor(seed: number, historyMax: number) {
    this.nodes = [new FakeNode(this.conference, { nodeId: 1, role: 'primary', historyMax }), new FakeNode(this.conference, { nodeId: 2, role: 'secondary', historyMax })];
    this.nodes[1]!.primaryUrl = URLS[0]!;
    // A third of the runs meet servers that answer every unreplayable resume with a snapshot (reconciled by the SDK) instead of a bridge.
    for (const node of this.nodes) node.faults.noBridge = seed % 3 === 0;
    // The session exists and its host has joined before the client starts.
    const host = { participant: 'ada', tokenRole: 'host' as const, service: false };
    this.conference.execute(host, 'setup-1', SESSION, { type: 'create', settings: { lobby: false } });
    this.conference.execute(host, 'setup-2', SESSION, { type: 'join', name: 'Ada' });
    this.token = this.conference.issueToken({ participant: 'ada', session: SESSION, role: 'host' });
    // Commands never time out here, so every one must get a definite answer.
    this.core = new ClientCore({ urls: URLS, random: new SeededRandom(seed), pingIntervalMs: 5_000, pongTimeoutMs: 5_000, commandTimeoutMs: 3_600_000 });
    this.core.subscribe(SESSION);
    this.core.start(this.nowMs);
    this.#pump();
  }

  get inFlight(): number {
    return this.#link === undefined ? 0 : this.#link.toClient.length + this.#link.toServer.length;
  }

  run(step: Step): void {
    const link = this.#link;
    switch (step.kind) {
      case 'deliverToServer':
        if (link?.toServer.length) link.server.handle(JSON.parse(link.toServer.shift()!));
        break;
      case 'deliverToClient':
        if (link?.toClient.length) this.#deliver(link, link.toClient.shift()!);
        break;
      case 'replayDelta':
        if (link?.delivered.length) this.core.handleText(link.connection, JSON.stringify(link.delivered[step.pick % link.delivered.length]), this.nowMs);
        break;
      case 'loseDelta':
        if (link !== undefined && link.toClient[0] !== CLOSE && link.toClient[0]?.type === 'delta') link.toClient.shift();
        break;
      case 'disconnect':
        if (link !== undefined) this.#cut(link, 'connection_closed');
        break;
      case 'write':
        this.conference.write(SESSION, step.updates);
        break;
      case 'command': {
        const id = `cmd-${++this.#commandCount}`;
        if (this.core.submit(id, SESSION, step.command, this.nowMs) === undefined) this.outcomes.set(id, undefined);
        break;
      }
      case 'time':
        this.nowMs += step.ms;
        this.core.handleTimeout(this.nowMs);
        break;
      case 'failover':
        this.#failover();
        break;
    }
    this.#pump();
  }

  /** The node the client is connected to, if any. */
  get connectedNode(): FakeNode | undefined {
    return this.#link?.node;
  }

  /** Runs without faults until nothing is in flight, the stream is live and every command is answered; false if that takes too long. */
  settle(stepsMax = 10_000): boolean {
    for (let i = 0; i < stepsMax; i++) {
      const link = this.#link;
      const stream = this.core.stream(SESSION)!;
      if (this.inFlight === 0 && this.core.status.state === 'connected' && stream.state === 'live' && this.core.pendingCount === 0) return true;
      if (link?.toServer.length) this.run({ kind: 'deliverToServer' });
      else if (link?.toClient.length) this.run({ kind: 'deliverToClient' });
      else {
        const deadline = this.core.pollTimeoutMs();
        if (deadline === undefined) return false;
        this.run({ kind: 'time', ms: Math.max(0, deadline - this.nowMs) });
      }
    }
    return false;
  }

  #deliver(link: Link, message: ServerMessage | typeof CLOSE): void {
    if (message === CLOSE) return this.core.handleClosed(link.connection, { code: 'connection_closed', message: 'server closed' }, this.nowMs);
    if (message.type === 'delta') link.delivered.push(message);
    this.core.handleText(link.connection, JSON.stringify(message), this.nowMs);
  }

  #cut(link: Link, code: string): void {
    link.server.closed();
    this.#link = undefined;
    this.core.handleClosed(link.connection, { code, message: 'cut by the simulation' }, this.nowMs);
  }

  #failover(): void {
    const [primary, secondary] = this.nodes;
    if (this.#dead.has(primary!) || primary!.role !== 'primary') return;
    this.#dead.add(primary!);
    primary!.detach();
    secondary!.promote();
    const link = this.#link;
    if (link !== undefined && link.node === primary) this.#cut(link, 'connection_closed');
  }

  /** Carries out what the core asked for: opens (at once), closes, frames to send. */
  #pump(): void {
    for (let event = this.core.pollEvent(); event !== undefined; event = this.core.pollEvent()) {
      if (event.type === 'settled') this.outcomes.set(event.id, event.outcome);
      else if (event.type === 'view') this.told.push(...event.changes);
      else if (event.type === 'close' && this.#link?.connection === event.connection) {
        this.#link.server.closed();
        this.#link = undefined;
      } else if (event.type === 'open') this.#open(event.connection, event.url);
    }
    for (let transmit = this.core.pollTransmit(); transmit !== undefined; transmit = this.core.pollTransmit()) {
      if (this.#link?.connection === transmit.connection) this.#link.toServer.push(transmit.text);
    }
  }

  #open(connection: number, url: string): void {
    const node = this.nodes[URLS.indexOf(url)]!;
    if (this.#dead.has(node)) {
      this.core.handleClosed(connection, { code: 'connect_failed', message: `${url} is down` }, this.nowMs);
      return this.#pump();
    }
    const toClient: Link['toClient'] = [];
    const server = node.connect({ send: (message) => toClient.push(message), close: () => toClient.push(CLOSE) });
    this.#link = { connection, node, server, toServer: [], toClient, delivered: [] };
    this.core.handleOpen(connection, this.token, this.nowMs);
    this.#pump();
  }
}
