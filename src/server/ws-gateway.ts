/** The WebSocket endpoint `/v1/ws`: takes HTTP upgrades (ws, noServer, with
 *  `maxPayload` from config), bounds the number of connections, knows which
 *  connections of which participant follow which session — for presence, for
 *  relaying signals between present members, and for ending the subscriptions
 *  of someone kicked or denied. It does not parse messages (ws-connection.ts). */

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import { WebSocketServer } from 'ws';
import type { ClientMessage, NodeInfo, ServerMessage } from '../conference/api.ts';
import { participantOf } from '../conference/mirror.ts';
import type { Presence } from '../conference/model.ts';
import { utf8Length } from '../core/value.ts';
import { checkSessionAccess, type TokenVerifier } from './auth.ts';
import type { CommandService } from './command-service.ts';
import type { ServerLimits } from './config.ts';
import { type ErrorCode, type Refusal, errorBody, refusal } from './errors.ts';
import type { Hub } from './hub.ts';
import type { PresenceTracker } from './presence.ts';
import { type Change, type StateNode, readRefusal } from './state-node.ts';
import { WriteBatcher } from './write-batch.ts';
import { Connection, type ConnectionContext } from './ws-connection.ts';

export const WS_PATH = '/v1/ws';

const PRESENT: ReadonlySet<Presence> = new Set<Presence>(['joined', 'reconnecting']);
const REMOVED: ReadonlySet<Presence> = new Set<Presence>(['kicked', 'denied']);

export interface GatewayDeps {
  readonly node: StateNode;
  readonly limits: ServerLimits;
  readonly verifier: TokenVerifier;
  readonly hub: Hub;
  readonly commands: CommandService;
  readonly presence: PresenceTracker;
  readonly clock: { nowMs(): number };
  readonly clockToleranceMs: number;
  readonly logger: pino.Logger;
  errorSent(code: ErrorCode): void;
}

export class Gateway {
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<Connection>();
  readonly #batcher = new WriteBatcher();
  /** `session \0 participant` → that participant's connections following the session. */
  readonly #members = new Map<string, Set<Connection>>();
  readonly #context: ConnectionContext;
  readonly #unsubscribe: () => void;
  #closing = false;

  constructor(readonly deps: GatewayDeps) {
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: deps.limits.wsMessageBytesMax, perMessageDeflate: false });
    this.#context = this.#makeContext();
    this.#unsubscribe = deps.node.onChange((change) => this.#onChange(change));
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Takes an HTTP upgrade for WS_PATH; answers 503 over the connection limit and while closing. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closing || this.#connections.size >= this.deps.limits.wsConnectionsMax) {
      const error = this.#closing
        ? refusal('shutting_down', 'the server is closing')
        : refusal('too_many_connections', `the server holds ${this.#connections.size} WebSocket connections; the limit is ${this.deps.limits.wsConnectionsMax}`);
      this.deps.errorSent(error.code);
      const body = JSON.stringify(errorBody(error));
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      this.#connections.add(new Connection(ws, this.#context, socket));
    });
  }

  /** Tells every welcomed connection that the node's role, epoch or known primary changed. */
  announceNode(node: NodeInfo): void {
    const text = JSON.stringify({ type: 'node', node } satisfies ServerMessage);
    for (const connection of this.#connections) if (connection.principal !== undefined) connection.send(text);
  }

  /** Closes every connection (clients resume elsewhere) and stops taking new ones. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#unsubscribe();
    for (const connection of [...this.#connections]) connection.fail(refusal('shutting_down', 'the server is closing; reconnect'));
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #makeContext(): ConnectionContext {
    const { deps } = this;
    return {
      limits: deps.limits,
      verifier: deps.verifier,
      hub: deps.hub,
      commands: deps.commands,
      clock: deps.clock,
      clockToleranceMs: deps.clockToleranceMs,
      batcher: this.#batcher,
      nodeInfo: () => deps.node.nodeInfo(),
      readRefusal: () => readRefusal(deps.node.status()),
      attach: (connection, session) => this.#attach(connection, session),
      detach: (connection, session) => this.#detach(connection, session),
      relay: (connection, message) => this.#relay(connection, message),
      refusedFrom: (session, participant) => {
        const view = deps.commands.view(session);
        const member = view === undefined ? undefined : participantOf(view, participant);
        return member !== undefined && REMOVED.has(member.presence);
      },
      closed: (connection) => this.#connections.delete(connection),
      errorSent: (code) => deps.errorSent(code),
      logBug: (error, context) => deps.logger.error({ err: error }, `bug while ${context}`),
    };
  }

  #attach(connection: Connection, session: string): void {
    const principal = connection.principal!;
    if (principal.service) return;
    const key = memberKey(session, principal.participant);
    let set = this.#members.get(key);
    if (set === undefined) this.#members.set(key, (set = new Set()));
    set.add(connection);
    this.deps.presence.attach(session, principal.participant);
  }

  #detach(connection: Connection, session: string): void {
    const principal = connection.principal!;
    if (principal.service) return;
    const key = memberKey(session, principal.participant);
    const set = this.#members.get(key);
    if (set === undefined || !set.delete(connection)) return;
    if (set.size === 0) this.#members.delete(key);
    if (!this.#closing) this.deps.presence.detach(session, principal.participant);
  }

  /** Signals go only from a present member to a present member of the same session, within the size limit. */
  #relay(connection: Connection, message: Extract<ClientMessage, { type: 'signal' }>): Refusal | undefined {
    const principal = connection.principal!;
    const { session, to, payload } = message;
    const denied = checkSessionAccess(principal, session);
    if (denied !== undefined) return denied;
    if (principal.service) return refusal('not_member', 'a service token is a member of no session; signalling is between members');
    const bytes = utf8Length(JSON.stringify(payload) ?? 'null');
    const max = this.deps.limits.signalPayloadBytesMax;
    if (bytes > max) return refusal('too_large', `the signal payload is ${bytes} bytes of JSON; the limit is ${max}`);
    const view = this.deps.commands.view(session);
    const sender = view === undefined ? undefined : participantOf(view, principal.participant);
    if (sender === undefined || !PRESENT.has(sender.presence)) return refusal('not_member', `you (${principal.participant}) are not a present member of session ${JSON.stringify(session)}`);
    const target = participantOf(view!, to);
    if (target === undefined || !PRESENT.has(target.presence)) return refusal('not_member', `participant ${JSON.stringify(to)} is not a present member of session ${JSON.stringify(session)}`);
    const targets = this.#members.get(memberKey(session, to));
    if (targets === undefined || targets.size === 0) return refusal('not_delivered', `participant ${JSON.stringify(to)} has no connection following session ${JSON.stringify(session)}`);
    const text = JSON.stringify({ type: 'signal', session, from: principal.participant, payload } satisfies ServerMessage);
    for (const target of targets) target.send(text);
    return undefined;
  }

  /** A participant kicked or denied stops receiving the session once the delta that says so has gone out. */
  #onChange(change: Change): void {
    if (change.session === undefined || !change.key.startsWith(`s/${change.session}/p/`)) return;
    const presence = (change.value as { presence?: Presence } | null)?.presence;
    if (presence === undefined || !REMOVED.has(presence)) return;
    const session = change.session;
    const participant = change.key.slice(`s/${session}/p/`.length);
    const connections = this.#members.get(memberKey(session, participant));
    if (connections === undefined) return;
    queueMicrotask(() => {
      this.deps.hub.flush(session);
      for (const connection of [...connections]) connection.forceUnsubscribe(session, presence);
    });
  }
}

function memberKey(session: string, participant: string): string {
  return `${session}\u0000${participant}`;
}
