/** The SDK's protocol state machine: which server to dial and when, what each
 *  connection carries (hello, subscriptions with resume, commands with the ids
 *  they keep across resends), and what the server's answers mean. Sans-IO: no
 *  sockets, timers or clock; it does not know WebSocket, promises or listeners.
 *  The adapter (conference-client.ts) feeds socket events and time in and
 *  drains pollTransmit / pollEvent / pollTimeoutMs. */

import { API_PROTOCOL_VERSION, type ClientMessage, type NodeInfo, type ServerMessage, type WelcomeLimits } from '../conference/api.ts';
import type { Command, ElementState, Role } from '../conference/model.ts';
import { assert } from '../core/assert.ts';
import type { Random } from '../core/random.ts';
import { type BackoffSettings, checkBackoffSettings, reconnectDelayMs } from './backoff.ts';
import type { ErrorCode } from './errors.ts';
import { PendingCommands } from './pending-commands.ts';
import { parseServerMessage } from './server-message.ts';
import { KNOWN_LIMITS_DEFAULT, SessionStream } from './session-stream.ts';
import { mayRedirect, toSocketUrl } from './socket-url.ts';

/** `connecting`: never connected yet; `reconnecting`: lost a connection, trying again; `closed`: `close()` was called or the server refused us for good. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** Who the server says we are (its `welcome`). */
export interface Identity {
  readonly participant: string;
  readonly session: string;
  readonly role: Role;
  readonly service: boolean;
}

export interface Problem {
  readonly code: ErrorCode;
  readonly message: string;
}

export interface ConnectionStatus {
  readonly state: ConnectionState;
  /** The URL connected to, or being tried while connecting / reconnecting; null once closed. */
  readonly url: string | null;
  /** The node connected to; null while not connected. */
  readonly node: NodeInfo | null;
  readonly identity: Identity | null;
  /** The latest connection is to another URL than the one before it. */
  readonly failedOver: boolean;
  /** Failed attempts since the last good connection to a primary. */
  readonly attempt: number;
  /** Why the last connection ended or failed; null before any did. */
  readonly lastError: Problem | null;
}

export interface ClientSettings extends BackoffSettings {
  /** A command with no definite answer after this long is answered `timeout`. */
  readonly commandTimeoutMs: number;
  /** Commands waiting for an answer at most; the next one is refused `queue_full` at once. */
  readonly pendingCommandsMax: number;
  readonly subscriptionsMax: number;
  /** From dialing to `welcome` (token fetch included). */
  readonly connectTimeoutMs: number;
  /** A ping goes out after this long without a message from the server; 0 turns keepalive off. */
  readonly pingIntervalMs: number;
  /** Without any message this long after a keepalive ping, the connection is taken for dead. */
  readonly pongTimeoutMs: number;
  /** A resume lists the mirror's elements (`known`, so a failover is bridged exactly) only up to this many… */
  readonly resumeKnownMax: number;
  /** …and only while the subscribe message stays within this many bytes; beyond either, the resume gets a snapshot. */
  readonly resumeKnownBytesMax: number;
}

/**
 * Defaults, and where they come from:
 * - retries: 100 ms doubling to 5 s, half of it random (a killed primary's successor is up within ~1 s, DESIGN.md §4);
 * - commandTimeoutMs 10 s: far inside the server's dedupe window (dedupeTtlMs, 5 min), so a resend is always recognised;
 * - subscriptionsMax 16: the server's subscriptionsPerConnectionMax (beyond it the server refuses without naming the session);
 * - pendingCommandsMax 128: a reconnect resends them all at once with the subscriptions, and 16 + 128 stays within the server's messageBurst (200);
 * - resumeKnownMax 2,000: the server's limits.resumeKnownMax; resumeKnownBytesMax 64 KiB: under its wsMessageBytesMax (80 KiB).
 */
export const CLIENT_DEFAULTS: ClientSettings = {
  backoffMsInitial: 100,
  backoffMsMax: 5_000,
  backoffJitter: 0.5,
  commandTimeoutMs: 10_000,
  pendingCommandsMax: 128,
  subscriptionsMax: 16,
  connectTimeoutMs: 5_000,
  pingIntervalMs: 15_000,
  pongTimeoutMs: 10_000,
  resumeKnownMax: KNOWN_LIMITS_DEFAULT.resumeKnownMax,
  resumeKnownBytesMax: KNOWN_LIMITS_DEFAULT.resumeKnownBytesMax,
};

export interface ClientCoreOptions extends Partial<ClientSettings> {
  /** Servers to fail over between, in order of preference; http(s) or ws(s) URLs. */
  readonly urls: readonly string[];
  readonly random: Random;
  /** The token can be fetched again: an `unauthenticated` or `token_expired` refusal is retried with a fresh one instead of closing the client. */
  readonly tokenRenewable?: boolean;
}

export type CommandOutcome = { readonly ok: true; readonly duplicate: boolean } | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

/** What brought a mirror's changes: a snapshot (the first, or one reconciled into the mirror), a bridging resume, or a delta. */
export type ChangeSource = 'snapshot' | 'resume' | 'delta';

/** What the adapter must do or tell: open or close a socket, or report to the application. */
export type CoreEvent =
  | { readonly type: 'open'; readonly connection: number; readonly url: string }
  | { readonly type: 'close'; readonly connection: number }
  | { readonly type: 'status'; readonly status: ConnectionStatus }
  /**
   * The session's mirror changed or moved: after a snapshot, a resume that
   * bridged, or a delta. `changes`: what the mirror took (newer timestamps and
   * deletions, each change once; empty when it only moved to a new position).
   */
  | { readonly type: 'view'; readonly session: string; readonly how: ChangeSource; readonly changes: readonly ElementState[] }
  | { readonly type: 'signal'; readonly session: string; readonly from: string; readonly payload: unknown }
  | { readonly type: 'settled'; readonly id: string; readonly outcome: CommandOutcome }
  | { readonly type: 'unsubscribed'; readonly session: string; readonly reason: string }
  | { readonly type: 'server_error'; readonly code: string; readonly message: string; readonly fatal: boolean }
  | { readonly type: 'pong'; readonly id: string };

/** One JSON text frame for one connection. */
export interface Transmit {
  readonly connection: number;
  readonly text: string;
}

interface Socket {
  readonly connection: number;
  readonly url: string;
  opened: boolean;
  welcomed: boolean;
  readonly openDeadlineMs: number;
  lastInboundMs: number;
  /** Set while a keepalive ping waits for any message. */
  pongDeadlineMs: number | undefined;
}

/** Fatal refusals of `hello` that the same token would get again (the server's error table). */
const AUTH_REFUSED_CODES: ReadonlySet<string> = new Set(['unauthenticated', 'token_expired']);
/**
 * Command refusals that pass: the server does not remember them under the
 * command's id, so the same id sent again runs again — and completes a
 * command whose updates were only partly applied. Retried with backoff until
 * `commandTimeoutMs`. (`internal` is a server bug: reported, not retried.)
 */
const TRANSIENT_COMMAND_CODES: ReadonlySet<string> = new Set(['stale', 'queue_full', 'unavailable', 'rate_limited']);
/** `unsubscribed` reasons that pass (a refused subscribe names its code): subscribe again after a backoff. `unavailable`: the node is still catching up. */
const TRANSIENT_UNSUBSCRIBE_REASONS: ReadonlySet<string> = new Set(['rate_limited', 'unavailable']);
/** Non-fatal errors a subscribe's `known` can draw (malformed, or longer than the server's limit). */
const KNOWN_REFUSED_CODES: ReadonlySet<string> = new Set(['invalid_request', 'too_large']);
const PROTOCOL_REFUSED_CODE = 'unsupported_protocol';
const KEEPALIVE_ID_PREFIX = 'keepalive-';

type StreamMessage = Extract<ServerMessage, { type: 'snapshot' | 'resumed' | 'delta' | 'unsubscribed' }>;
type Welcome = Extract<ServerMessage, { type: 'welcome' }>;
type Result = Extract<ServerMessage, { type: 'result' }>;
type ServerError = Extract<ServerMessage, { type: 'error' }>;

/** The settings with defaults filled in; RangeError naming the first bad one. */
function settingsFrom(options: ClientCoreOptions): ClientSettings {
  const settings: Record<string, number> = { ...CLIENT_DEFAULTS };
  for (const name of Object.keys(CLIENT_DEFAULTS) as (keyof ClientSettings)[]) {
    const value = options[name];
    if (value !== undefined) settings[name] = value;
  }
  const checked = settings as unknown as ClientSettings;
  checkBackoffSettings(checked);
  for (const name of ['commandTimeoutMs', 'connectTimeoutMs', 'pongTimeoutMs'] as const) {
    if (!(Number.isFinite(checked[name]) && checked[name] > 0)) throw new RangeError(`${name} ${checked[name]} must be a positive number`);
  }
  for (const name of ['pendingCommandsMax', 'subscriptionsMax', 'resumeKnownMax', 'resumeKnownBytesMax'] as const) {
    if (!(Number.isInteger(checked[name]) && checked[name] > 0)) throw new RangeError(`${name} ${checked[name]} must be a positive integer`);
  }
  if (!(Number.isFinite(checked.pingIntervalMs) && checked.pingIntervalMs >= 0)) throw new RangeError(`pingIntervalMs ${checked.pingIntervalMs} must be ≥ 0`);
  return checked;
}

/**
 * The client's protocol logic without I/O: feed it socket events and time,
 * drain what it asks for.
 *
 * @example
 * ```ts
 * import { SeededRandom } from '../core/random.ts';
 * const core = new ClientCore({ urls: ['ws://127.0.0.1:9/v1/ws'], random: new SeededRandom(1) });
 * core.start(0);
 * assert.deepEqual(core.pollEvent(), { type: 'open', connection: 1, url: 'ws://127.0.0.1:9/v1/ws' });
 * core.handleOpen(1, 'token-1', 5);
 * assert.equal(core.pollTransmit()?.text, '{"type":"hello","token":"token-1","protocol":1}');
 * const node = { nodeId: 1, role: 'primary', epoch: 1, primaryUrl: null };
 * core.handleText(1, JSON.stringify({ type: 'welcome', participant: 'ada', session: 'standup', role: 'host', service: false, node }), 10);
 * assert.equal(core.status.state, 'connected');
 * core.submit('c1', 'standup', { type: 'raise_hand' }, 10);
 * assert.equal(JSON.parse(core.pollTransmit()!.text).id, 'c1');
 * // The connection drops before the answer: after the backoff the command goes again, same id.
 * core.handleClosed(1, { code: 'connection_closed', message: 'gone' }, 20);
 * assert.equal(core.status.state, 'reconnecting');
 * core.handleTimeout(core.pollTimeoutMs()!);
 * core.handleOpen(2, 'token-1', 200);
 * core.handleText(2, JSON.stringify({ type: 'welcome', participant: 'ada', session: 'standup', role: 'host', service: false, node }), 210);
 * const resent = [...drain(core)].map((t) => JSON.parse(t.text)).find((m) => m.type === 'command');
 * assert.equal(resent.id, 'c1');
 * function* drain(c: ClientCore) { for (let t = c.pollTransmit(); t; t = c.pollTransmit()) yield t; }
 * ```
 */
export class ClientCore {
  readonly settings: ClientSettings;
  readonly urls: readonly string[];
  readonly #random: Random;
  readonly #tokenRenewable: boolean;
  readonly #streams = new Map<string, SessionStream>();
  readonly #pending: PendingCommands;
  readonly #transmits: Transmit[] = [];
  readonly #events: CoreEvent[] = [];
  /** What one input can queue at most: a welcome resubscribes everything and resends every command. */
  readonly #queueLengthMax: number;
  #status: ConnectionStatus = { state: 'connecting', url: null, node: null, identity: null, failedOver: false, attempt: 0, lastError: null };
  #started = false;
  #socket: Socket | undefined = undefined;
  #connectionCount = 0;
  #urlIndex = 0;
  /** A primary URL a server named that is not in `urls`: tried once, next. */
  #redirectUrl: string | undefined = undefined;
  #retryAtMs: number | undefined = undefined;
  #attempt = 0;
  #lastWelcomedUrl: string | undefined = undefined;
  /** The last welcome's limits: what a subscribe's `known` is sized by (with the settings' own). */
  #serverLimits: WelcomeLimits | undefined = undefined;
  #keepaliveCount = 0;

  constructor(options: ClientCoreOptions) {
    if (options.urls.length === 0) throw new RangeError('urls must name at least one server');
    this.urls = options.urls.map((url) => {
      const socketUrl = toSocketUrl(url);
      if (socketUrl === undefined) throw new RangeError(`${JSON.stringify(url)} is not an http(s) or ws(s) URL`);
      return socketUrl;
    });
    this.settings = settingsFrom(options);
    this.#random = options.random;
    this.#tokenRenewable = options.tokenRenewable ?? false;
    this.#pending = new PendingCommands(this.settings.pendingCommandsMax);
    this.#queueLengthMax = 2 * (this.settings.subscriptionsMax + this.settings.pendingCommandsMax) + 64;
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  stream(session: string): SessionStream | undefined {
    return this.#streams.get(session);
  }

  /** Whether `connection` is the socket the core is using (events of older ones are ignored). */
  isCurrent(connection: number): boolean {
    return this.#socket?.connection === connection;
  }

  /** Dials the first URL. */
  start(nowMs: number): void {
    assert(!this.#started, 'start() is called once');
    this.#started = true;
    this.#openNext(nowMs);
  }

  // ---- input: socket events and time ----------------------------------------

  /** The socket opened; `token` is the one fetched for this connection. */
  handleOpen(connection: number, token: string, nowMs: number): void {
    const socket = this.#current(connection);
    if (socket === undefined || socket.opened) return;
    socket.opened = true;
    socket.lastInboundMs = nowMs;
    this.#send(socket, { type: 'hello', token, protocol: API_PROTOCOL_VERSION });
  }

  /** One text frame from the server. */
  handleText(connection: number, text: string, nowMs: number): void {
    const socket = this.#current(connection);
    if (socket === undefined) return;
    socket.lastInboundMs = nowMs;
    socket.pongDeadlineMs = undefined;
    const message = parseServerMessage(text);
    if ('problem' in message) {
      if (!message.ignorable) this.#fail({ code: 'protocol_error', message: `${socket.url}: ${message.problem}` }, nowMs);
      return;
    }
    if (!socket.welcomed && message.type !== 'welcome' && message.type !== 'error') {
      this.#fail({ code: 'protocol_error', message: `${socket.url} sent ${message.type} before welcome` }, nowMs);
      return;
    }
    this.#dispatch(socket, message, nowMs);
  }

  /** The socket closed or could not open (or its token could not be fetched). */
  handleClosed(connection: number, problem: Problem, nowMs: number): void {
    if (this.#current(connection) !== undefined) this.#fail(problem, nowMs);
  }

  /** Time passed: retry, connect and keepalive deadlines, command timeouts. */
  handleTimeout(nowMs: number): void {
    if (this.#status.state === 'closed') return;
    if (this.#retryAtMs !== undefined && nowMs >= this.#retryAtMs) {
      this.#retryAtMs = undefined;
      this.#openNext(nowMs);
    }
    const socket = this.#socket;
    if (socket !== undefined && !socket.welcomed && nowMs >= socket.openDeadlineMs) {
      this.#fail({ code: 'connect_timeout', message: `no welcome from ${socket.url} within connectTimeoutMs ${this.settings.connectTimeoutMs}` }, nowMs);
    } else if (socket !== undefined) {
      this.#keepalive(socket, nowMs);
    }
    if (socket !== undefined && this.#socket === socket && socket.welcomed) {
      for (const stream of this.#streams.values()) {
        if (stream.resubscribeAtMs !== undefined && stream.resubscribeAtMs <= nowMs) this.#subscribeIfConnected(stream);
      }
      for (const command of this.#pending.unsent(nowMs)) this.#sendCommand(socket, command.id);
    }
    for (const command of this.#pending.expire(nowMs)) {
      const message = `no definite answer to ${command.command.type} (id ${command.id}) in session ${command.session} within commandTimeoutMs ${this.settings.commandTimeoutMs}; it may or may not have been applied`;
      this.#settle(command.id, { ok: false, code: 'timeout', message });
    }
  }

  // ---- input: the application -----------------------------------------------

  /** Follows a session (subscribes now if connected, else on connect); the same stream if already followed. */
  subscribe(session: string): SessionStream | Problem {
    const existing = this.#streams.get(session);
    if (existing !== undefined) return existing;
    if (this.#status.state === 'closed') return { code: 'closed', message: 'the client is closed' };
    if (this.#streams.size >= this.settings.subscriptionsMax) {
      return { code: 'subscriptions_full', message: `${this.#streams.size} sessions are subscribed; subscriptionsMax is ${this.settings.subscriptionsMax}` };
    }
    const stream = new SessionStream(session, this.settings);
    this.#streams.set(session, stream);
    this.#subscribeIfConnected(stream);
    return stream;
  }

  unsubscribe(session: string): void {
    if (!this.#streams.delete(session)) return;
    const socket = this.#socket;
    if (socket?.welcomed) this.#send(socket, { type: 'unsubscribe', session });
  }

  /** Queues a command under `id` (sent now if connected); a problem when it cannot even be queued. */
  submit(id: string, session: string, command: Command, nowMs: number): Problem | undefined {
    if (this.#status.state === 'closed') return { code: 'closed', message: `the client is closed; ${command.type} was not sent` };
    const added = this.#pending.add(id, session, command, nowMs + this.settings.commandTimeoutMs);
    if (added === 'full') {
      return { code: 'queue_full', message: `${this.#pending.size} commands are waiting for an answer; pendingCommandsMax is ${this.settings.pendingCommandsMax}` };
    }
    const socket = this.#socket;
    if (socket?.welcomed) this.#sendCommand(socket, id);
    return undefined;
  }

  /** Relays a WebRTC signal now; false when not connected (signals are not queued: they go stale). */
  signal(session: string, to: string, payload: unknown): boolean {
    const socket = this.#socket;
    if (!socket?.welcomed) return false;
    this.#send(socket, { type: 'signal', session, to, payload });
    return true;
  }

  /** Sends a ping with `id`; false when not connected. The answer is a `pong` event. */
  ping(id: string): boolean {
    const socket = this.#socket;
    if (!socket?.welcomed) return false;
    this.#send(socket, { type: 'ping', id });
    return true;
  }

  /** Closes for good: the socket goes, every pending command is answered `closed` (or with `problem`'s code). */
  close(problem?: Problem): void {
    if (this.#status.state === 'closed') return;
    const socket = this.#socket;
    if (socket !== undefined) this.#disconnect(socket);
    this.#retryAtMs = undefined;
    const reason = problem ?? { code: 'closed', message: 'the client was closed' };
    for (const command of this.#pending.drain()) {
      this.#settle(command.id, { ok: false, code: reason.code, message: `${reason.message}; ${command.command.type} (id ${command.id}) may or may not have been applied` });
    }
    this.#setStatus({ state: 'closed', url: null, node: null, lastError: problem ?? this.#status.lastError });
  }

  // ---- output ---------------------------------------------------------------

  pollTransmit(): Transmit | undefined {
    return this.#transmits.shift();
  }

  pollEvent(): CoreEvent | undefined {
    return this.#events.shift();
  }

  /** The earliest deadline (same clock as `nowMs`) at which `handleTimeout` must run; undefined when none. */
  pollTimeoutMs(): number | undefined {
    const socket = this.#socket;
    const deadlines = [
      this.#retryAtMs,
      socket !== undefined && !socket.welcomed ? socket.openDeadlineMs : undefined,
      socket !== undefined ? this.#keepaliveDeadlineMs(socket) : undefined,
      this.#pending.earliestDeadlineMs(),
      socket?.welcomed ? this.#pending.earliestRetryMs() : undefined,
      socket?.welcomed ? this.#earliestResubscribeMs() : undefined,
    ].filter((deadline): deadline is number => deadline !== undefined);
    return deadlines.length === 0 ? undefined : Math.min(...deadlines);
  }

  // ---- connections ------------------------------------------------------------

  #current(connection: number): Socket | undefined {
    const socket = this.#socket;
    return socket !== undefined && socket.connection === connection ? socket : undefined;
  }

  #openNext(nowMs: number): void {
    const url = this.#redirectUrl ?? this.urls[this.#urlIndex]!;
    this.#redirectUrl = undefined;
    const connection = ++this.#connectionCount;
    this.#socket = { connection, url, opened: false, welcomed: false, openDeadlineMs: nowMs + this.settings.connectTimeoutMs, lastInboundMs: nowMs, pongDeadlineMs: undefined };
    this.#push(this.#events, { type: 'open', connection, url });
    this.#setStatus({ url, node: null });
  }

  /** Forgets the socket: the adapter closes it; streams wait for a new snapshot or resume; every pending command goes again. */
  #disconnect(socket: Socket): void {
    this.#socket = undefined;
    this.#push(this.#events, { type: 'close', connection: socket.connection });
    for (const stream of this.#streams.values()) stream.handleDisconnect();
    this.#pending.markAllUnsent();
  }

  /**
   * The current connection failed. One that never got a welcome moves on to
   * the next URL; one that was up retries its URL first (a restarted server
   * comes back there; a dead one fails fast and moves on).
   */
  #fail(problem: Problem, nowMs: number): void {
    const socket = this.#socket!;
    this.#disconnect(socket);
    if (!socket.welcomed) this.#urlIndex = (this.#urlIndex + 1) % this.urls.length;
    this.#scheduleRetry(reconnectDelayMs(this.#attempt, this.settings, this.#random), problem, nowMs);
  }

  /** The server is not the primary: go where it says (if allowed), else to the next URL. The first redirect after a good connection is immediate. */
  #redirect(socket: Socket, primaryUrl: string | null | undefined, nowMs: number): void {
    const target = primaryUrl === null || primaryUrl === undefined ? undefined : toSocketUrl(primaryUrl);
    const follow = target !== undefined && target !== socket.url && mayRedirect(socket.url, target);
    this.#disconnect(socket);
    if (follow) {
      const index = this.urls.indexOf(target);
      if (index >= 0) this.#urlIndex = index;
      else this.#redirectUrl = target;
    } else {
      this.#urlIndex = (this.#urlIndex + 1) % this.urls.length;
    }
    const problem = { code: 'not_primary', message: `${socket.url} is not the primary${target === undefined ? '' : `; it names ${target}`}` };
    const delayMs = this.#attempt === 0 ? 0 : reconnectDelayMs(this.#attempt, this.settings, this.#random);
    this.#scheduleRetry(delayMs, problem, nowMs);
  }

  #scheduleRetry(delayMs: number, problem: Problem, nowMs: number): void {
    this.#attempt++;
    this.#retryAtMs = nowMs + delayMs;
    const state = this.#lastWelcomedUrl === undefined ? 'connecting' : 'reconnecting';
    this.#setStatus({ state, node: null, attempt: this.#attempt, lastError: problem });
  }

  /** At most subscriptionsMax streams: a scan is cheap. */
  #earliestResubscribeMs(): number | undefined {
    let earliest: number | undefined;
    for (const stream of this.#streams.values()) {
      const atMs = stream.resubscribeAtMs;
      if (atMs !== undefined && (earliest === undefined || atMs < earliest)) earliest = atMs;
    }
    return earliest;
  }

  #keepaliveDeadlineMs(socket: Socket): number | undefined {
    if (!socket.welcomed || this.settings.pingIntervalMs === 0) return undefined;
    return socket.pongDeadlineMs ?? socket.lastInboundMs + this.settings.pingIntervalMs;
  }

  #keepalive(socket: Socket, nowMs: number): void {
    const deadlineMs = this.#keepaliveDeadlineMs(socket);
    if (deadlineMs === undefined || nowMs < deadlineMs) return;
    if (socket.pongDeadlineMs !== undefined) {
      this.#fail({ code: 'ping_timeout', message: `${socket.url} sent nothing for pongTimeoutMs ${this.settings.pongTimeoutMs} after a ping` }, nowMs);
      return;
    }
    this.#send(socket, { type: 'ping', id: `${KEEPALIVE_ID_PREFIX}${++this.#keepaliveCount}` });
    socket.pongDeadlineMs = nowMs + this.settings.pongTimeoutMs;
  }

  // ---- server messages --------------------------------------------------------

  #dispatch(socket: Socket, message: ServerMessage, nowMs: number): void {
    switch (message.type) {
      case 'welcome':
        return this.#onWelcome(socket, message, nowMs);
      case 'error':
        return this.#onError(socket, message, nowMs);
      case 'result':
        return this.#onResult(socket, message, nowMs);
      case 'signal':
        this.#push(this.#events, { type: 'signal', session: message.session, from: message.from, payload: message.payload });
        return;
      case 'pong':
        if (!message.id.startsWith(KEEPALIVE_ID_PREFIX)) this.#push(this.#events, { type: 'pong', id: message.id });
        return;
      case 'node':
        // The server's node changed role or epoch while connected (a promoted secondary): status follows.
        this.#setStatus({ node: message.node });
        return;
      default:
        return this.#onStreamMessage(socket, message, nowMs);
    }
  }

  /** Connected: resubscribe every followed session (resuming where it was) and resend every pending command, oldest first. */
  #onWelcome(socket: Socket, message: Welcome, nowMs: number): void {
    if (socket.welcomed) {
      this.#fail({ code: 'protocol_error', message: `${socket.url} sent a second welcome` }, nowMs);
      return;
    }
    socket.welcomed = true;
    const failedOver = this.#lastWelcomedUrl !== undefined && this.#lastWelcomedUrl !== socket.url;
    this.#lastWelcomedUrl = socket.url;
    this.#serverLimits = message.limits;
    // A secondary that will bounce our pending commands is not yet a good connection: keep backing off.
    if (message.node.role === 'primary' || this.#pending.size === 0) this.#attempt = 0;
    const identity = { participant: message.participant, session: message.session, role: message.role, service: message.service };
    this.#setStatus({ state: 'connected', url: socket.url, node: message.node, identity, failedOver, attempt: this.#attempt });
    for (const stream of this.#streams.values()) {
      if (stream.state !== 'unsubscribed') this.#subscribeIfConnected(stream);
    }
    for (const command of this.#pending.unsent(nowMs)) this.#sendCommand(socket, command.id);
  }

  #onError(socket: Socket, message: ServerError, nowMs: number): void {
    this.#push(this.#events, { type: 'server_error', code: message.code, message: message.message, fatal: message.fatal });
    if (!message.fatal) {
      // An error names no session: a waiting resume whose `known` may be what was refused goes again without it (a snapshot is always safe).
      if (KNOWN_REFUSED_CODES.has(message.code)) for (const stream of this.#streams.values()) if (stream.handleKnownRefused()) this.#subscribeIfConnected(stream);
      return;
    }
    const problem = { code: message.code, message: `${socket.url}: ${message.message}` };
    const refusedForGood = !socket.welcomed && (message.code === PROTOCOL_REFUSED_CODE || (AUTH_REFUSED_CODES.has(message.code) && !this.#tokenRenewable));
    if (refusedForGood) this.close(problem);
    else this.#fail(problem, nowMs);
  }

  #onResult(socket: Socket, message: Result, nowMs: number): void {
    const command = this.#pending.get(message.id);
    // Unknown: answered before, or timed out. Sent on another connection: cannot happen (resent ones are re-marked), ignored anyway.
    if (command === undefined || command.sentOn !== socket.connection) return;
    if (message.ok) {
      this.#pending.take(message.id);
      this.#attempt = 0;
      this.#settle(message.id, { ok: true, duplicate: message.duplicate });
    } else if (message.code === 'not_primary') {
      this.#redirect(socket, message.primaryUrl ?? this.#status.node?.primaryUrl, nowMs);
    } else if (TRANSIENT_COMMAND_CODES.has(message.code) && command.deadlineMs > nowMs) {
      this.#pending.retryAt(message.id, nowMs + reconnectDelayMs(command.retries, this.settings, this.#random));
    } else {
      this.#pending.take(message.id);
      this.#settle(message.id, { ok: false, code: message.code, message: message.message });
    }
  }

  #onStreamMessage(socket: Socket, message: StreamMessage, nowMs: number): void {
    const stream = this.#streams.get(message.session);
    if (stream === undefined) return; // unsubscribed by us; the server had not heard yet
    switch (message.type) {
      case 'snapshot':
        stream.handleSnapshot(message);
        if (stream.state === 'live') this.#view(stream, 'snapshot');
        return;
      case 'resumed': {
        const outcome = stream.handleResumed(message);
        if (outcome === 'bridged') this.#view(stream, 'resume');
        else if (outcome === 'resubscribe') this.#send(socket, stream.subscribeMessage(this.#serverLimits));
        else if (outcome === 'unexpected') this.#fail({ code: 'protocol_error', message: `${socket.url} resumed ${message.session} unasked` }, nowMs);
        return;
      }
      case 'delta': {
        const outcome = stream.handleDelta(message);
        if (outcome === 'applied') this.#view(stream, 'delta');
        else if (outcome === 'gap') this.#send(socket, stream.subscribeMessage(this.#serverLimits));
        return;
      }
      case 'unsubscribed':
        if (stream.state === 'subscribing' && TRANSIENT_UNSUBSCRIBE_REASONS.has(message.reason)) {
          stream.handleRefusedForNow(nowMs + reconnectDelayMs(stream.refusals, this.settings, this.#random));
          return;
        }
        stream.handleUnsubscribed(message.reason);
        this.#push(this.#events, { type: 'unsubscribed', session: message.session, reason: message.reason });
        return;
    }
  }

  // ---- helpers ----------------------------------------------------------------

  /**
   * Subscribes now if connected (else the welcome will). A participant token
   * gives nothing in another session (the server refuses with an `error` that
   * names no session), so such a subscription ends here, with that reason.
   */
  #subscribeIfConnected(stream: SessionStream): void {
    const message = stream.subscribeMessage(this.#serverLimits); // also marks it subscribing, so a later welcome sends it
    const socket = this.#socket;
    const identity = this.#status.identity;
    if (!socket?.welcomed || identity === null) return;
    if (!identity.service && identity.session !== stream.session) {
      const reason = `wrong_session: the token is for session ${identity.session}, not ${stream.session}`;
      stream.handleUnsubscribed(reason);
      this.#push(this.#events, { type: 'unsubscribed', session: stream.session, reason });
      return;
    }
    this.#send(socket, message);
  }

  #view(stream: SessionStream, how: ChangeSource): void {
    this.#push(this.#events, { type: 'view', session: stream.session, how, changes: stream.takeChanges() });
  }

  #sendCommand(socket: Socket, id: string): void {
    const command = this.#pending.get(id)!;
    this.#send(socket, { type: 'command', id, session: command.session, command: command.command });
    this.#pending.markSent(id, socket.connection);
  }

  #send(socket: Socket, message: ClientMessage): void {
    this.#push(this.#transmits, { connection: socket.connection, text: JSON.stringify(message) });
  }

  #settle(id: string, outcome: CommandOutcome): void {
    this.#push(this.#events, { type: 'settled', id, outcome });
  }

  #setStatus(patch: Partial<ConnectionStatus>): void {
    this.#status = { ...this.#status, ...patch };
    this.#push(this.#events, { type: 'status', status: this.#status });
  }

  #push<T>(queue: T[], item: T): void {
    assert(queue.length < this.#queueLengthMax, `an output queue holds ${queue.length} items: the adapter must drain pollTransmit and pollEvent after every input`);
    queue.push(item);
  }
}
