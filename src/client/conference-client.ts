/** The SDK's public face, for browsers and Node: a ConferenceClient keeps one
 *  WebSocket to the live primary (failing over between its URLs) and a
 *  ConferenceSession per followed session, with its local mirror, typed
 *  commands and signalling. This file owns the socket, the one timer and the
 *  promises; the protocol rules live in client-core.ts. It imports nothing
 *  from `node:` or npm: Vite bundles it for the browser as it is. */

import type { NodeInfo, StreamPosition } from '../conference/api.ts';
import type { SessionMirror } from '../conference/mirror.ts';
import { type Command, type ElementState, ID_PATTERN, type Role, type SessionSettings, type SessionView, type TrackKind } from '../conference/model.ts';
import { type Random, SeededRandom } from '../core/random.ts';
import { type ChangeSource, ClientCore, type ClientSettings, type ConnectionStatus, type CoreEvent, type Problem } from './client-core.ts';
import { ConferenceError } from './errors.ts';
import type { SessionStream, StreamState } from './session-stream.ts';

export type { ChangeSource, ConnectionState, ConnectionStatus, Identity, ClientSettings } from './client-core.ts';
export { CLIENT_DEFAULTS } from './client-core.ts';
export { ConferenceError, isConferenceError, type ErrorCode } from './errors.ts';
export type { ElementState, NodeInfo, SessionView, StreamPosition };

/**
 * The part of the WebSocket API the SDK uses; the browser's WebSocket and the
 * `ws` package's both have it. Handler parameters are typed `never` so either
 * one's event types are accepted; the SDK reads `data` of a message event and
 * `code` / `reason` of a close event.
 */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ConferenceClientOptions extends Partial<ClientSettings> {
  /** Servers to fail over between, in order of preference: `ws(s)://host/v1/ws` or their `http(s)://host` base URLs. */
  readonly urls: readonly string[];
  /** A bearer token, or a function fetching a fresh one before every connection attempt (then an `unauthenticated` or `token_expired` refusal is retried). */
  readonly token: string | (() => Promise<string>);
  /** The WebSocket class; default `globalThis.WebSocket` (browsers). Node 20 has none: pass `ws`'s. */
  readonly WebSocket?: WebSocketConstructor;
  /** Seeds the backoff jitter, for tests that need the same delays every run. Default: Math.random. */
  readonly randomSeed?: number;
}

/** A command's definite success. `duplicate`: the server had applied this id before (a resend after a lost answer). */
export interface CommandResult {
  readonly id: string;
  readonly duplicate: boolean;
}

/** A problem the server reported that is not tied to one command (bad message, rate limit, auth). */
export interface ServerErrorEvent {
  readonly code: string;
  readonly message: string;
  readonly fatal: boolean;
}

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: ConferenceError) => void;
}

/** Outstanding application pings at most (keepalive pings are the core's and not counted). */
const PINGS_MAX = 16;

const nowMs = (): number => globalThis.performance.now();

const mathRandom: Random = { nextUint32: () => Math.floor(Math.random() * 4294967296) };

/**
 * A random (version 4) UUID for a command or ping id. Browsers offer
 * `crypto.randomUUID` only in secure contexts (https, localhost); a page on
 * plain http elsewhere has only `getRandomValues`, which makes the same kind of id.
 *
 * @example
 * ```ts
 * const id = newId();
 * assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
 * assert.notEqual(newId(), id);
 * ```
 */
export function newId(): string {
  const crypto = globalThis.crypto;
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What a ConferenceSession needs of its client; the client fills in `hooks` so it can notify the session. */
interface SessionPort {
  readonly stream: SessionStream;
  readonly commandTimeoutMs: number;
  send(command: Command): Promise<CommandResult>;
  signal(to: string, payload: unknown): boolean;
  close(): void;
}

interface SessionHooks {
  change(changes: readonly ElementState[], how: ChangeSource): void;
  signal(from: string, payload: unknown): void;
  unsubscribed(reason: string): void;
  /** The client closed: pending `waitFor`s reject. */
  closed(): void;
}

/**
 * A connection to a confstate server (or to whichever of `urls` is the live
 * primary) that reconnects, resumes subscriptions and resends unanswered
 * commands by itself, until `close()`.
 *
 * @example
 * ```ts
 * import { WebSocket } from 'ws'; // Node; in a browser leave the option out
 * import { ConferenceClient } from './conference-client.ts';
 *
 * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
 * const standup = client.session('standup');
 * await standup.create({ title: 'Stand-up', settings: { lobby: false } });
 * await standup.join('Ada');
 * const view = await standup.waitFor((v) => v.participants.length === 1);
 * assert.equal(view.title, 'Stand-up');
 * assert.equal(view.participants[0]?.name, 'Ada');
 * assert.equal(client.status.state, 'connected');
 * client.close();
 * ```
 */
export class ConferenceClient {
  readonly #core: ClientCore;
  readonly #WebSocket: WebSocketConstructor;
  readonly #token: string | (() => Promise<string>);
  #socket: { readonly connection: number; readonly ws: WebSocketLike } | undefined = undefined;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #timerAtMs: number | undefined = undefined;
  readonly #waiters = new Map<string, Waiter<CommandResult>>();
  readonly #pings = new Map<string, Waiter<number> & { readonly sentMs: number }>();
  readonly #sessions = new Map<string, { readonly session: ConferenceSession; readonly hooks: SessionHooks }>();
  readonly #statusListeners = new Set<(status: ConnectionStatus) => void>();
  readonly #errorListeners = new Set<(error: ServerErrorEvent) => void>();

  /** Starts connecting at once. Throws a RangeError for bad options and a TypeError when there is no WebSocket class. */
  constructor(options: ConferenceClientOptions) {
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WebSocketClass === undefined) throw new TypeError("no WebSocket here: pass options.WebSocket (in Node: import { WebSocket } from 'ws')");
    this.#WebSocket = WebSocketClass;
    this.#token = options.token;
    const random = options.randomSeed === undefined ? mathRandom : new SeededRandom(options.randomSeed);
    this.#core = new ClientCore({ ...options, random, tokenRenewable: typeof options.token === 'function' });
    this.#core.start(nowMs());
    this.#drive();
  }

  /**
   * Where the connection stands: state, URL, node, identity, whether the last reconnect moved to another server.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * assert.equal(client.status.state, 'connecting');
   * await client.whenConnected();
   * assert.equal(client.status.url, serverUrl);
   * assert.equal(client.status.node?.role, 'primary');
   * assert.equal(client.status.identity?.participant, 'ada');
   * client.close();
   * assert.equal(client.status.state, 'closed');
   * ```
   */
  get status(): ConnectionStatus {
    return this.#core.status;
  }

  /**
   * Commands sent or queued that have no definite answer yet (at most `pendingCommandsMax`).
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const created = client.send('standup', { type: 'create' }); // queued until connected
   * assert.equal(client.pendingCount, 1);
   * await created;
   * assert.equal(client.pendingCount, 0);
   * client.close();
   * ```
   */
  get pendingCount(): number {
    return this.#core.pendingCount;
  }

  /**
   * Calls `listener` with every change of `status`; returns the function that stops it.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const states: string[] = [];
   * const stop = client.onStatus((status) => states.push(status.state));
   * await client.whenConnected();
   * client.close();
   * stop();
   * assert.deepEqual(states, ['connected', 'closed']);
   * ```
   */
  onStatus(listener: (status: ConnectionStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /**
   * Calls `listener` with each `error` message of the server (a problem not tied to one command); returns the function that stops it.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token: 'not-a-token', WebSocket });
   * const codes: string[] = [];
   * client.onServerError((error) => codes.push(error.code));
   * await assert.rejects(client.whenConnected(), (error: ConferenceError) => error.code === 'unauthenticated');
   * assert.deepEqual(codes, ['unauthenticated']);
   * assert.equal(client.status.state, 'closed'); // a fixed token that is refused will be refused again
   * ```
   */
  onServerError(listener: (error: ServerErrorEvent) => void): () => void {
    this.#errorListeners.add(listener);
    return () => this.#errorListeners.delete(listener);
  }

  /**
   * Resolves with the status once connected (at once if connected now); rejects when the client closes or after `timeoutMs`.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const status = await client.whenConnected(2_000);
   * assert.equal(status.state, 'connected');
   * assert.equal(status.failedOver, false);
   * client.close();
   * ```
   */
  whenConnected(timeoutMs: number = this.#core.settings.commandTimeoutMs): Promise<ConnectionStatus> {
    return new Promise((resolve, reject) => {
      const check = (status: ConnectionStatus): boolean => {
        if (status.state === 'connected') resolve(status);
        else if (status.state === 'closed') reject(new ConferenceError(status.lastError?.code ?? 'closed', status.lastError?.message ?? 'the client is closed'));
        else return false;
        return true;
      };
      if (check(this.status)) return;
      const timer = setTimeout(() => {
        stop();
        reject(new ConferenceError('timeout', `not connected within ${timeoutMs} ms; last error: ${this.status.lastError?.message ?? 'none'}`));
      }, timeoutMs);
      const stop = this.onStatus((status) => {
        if (!check(status)) return;
        clearTimeout(timer);
        stop();
      });
    });
  }

  /**
   * The session `id`, followed: subscribed now (or on connect), resumed after
   * every reconnect, its mirror kept current. The same object for the same id
   * until its `close()`. Throws a ConferenceError `invalid_id`, `subscriptions_full` or `closed`.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * assert.equal(client.session('standup'), standup);
   * await standup.create({ title: 'Stand-up' });
   * const view = await standup.waitFor((v) => v.phase === 'open');
   * assert.equal(view.organizer, 'ada');
   * assert.throws(() => client.session('no/slashes'), (error: ConferenceError) => error.code === 'invalid_id');
   * client.close();
   * ```
   */
  session(id: string): ConferenceSession {
    const known = this.#sessions.get(id);
    if (known !== undefined) return known.session;
    if (!ID_PATTERN.test(id)) throw new ConferenceError('invalid_id', `session id ${JSON.stringify(id)} does not match ${ID_PATTERN}`);
    const stream = this.#core.subscribe(id);
    if (!('mirror' in stream)) throw new ConferenceError(stream.code, stream.message);
    let hooks: SessionHooks | undefined;
    const port: SessionPort = {
      stream,
      commandTimeoutMs: this.#core.settings.commandTimeoutMs,
      send: (command) => this.send(id, command),
      signal: (to, payload) => this.#input(() => this.#core.signal(id, to, payload)),
      close: () => {
        this.#sessions.delete(id);
        this.#input(() => this.#core.unsubscribe(id));
      },
    };
    const session = new ConferenceSession(id, port, (h) => (hooks = h));
    this.#sessions.set(id, { session, hooks: hooks! });
    this.#drive();
    return session;
  }

  /**
   * Sends any command to any session (no subscription needed: what a service
   * token uses). Resolves on the server's definite success; rejects with a
   * ConferenceError carrying the server's code (`forbidden`, `invalid_command`, …)
   * or `timeout`, `queue_full`, `closed`. The command keeps one id across
   * reconnects, redirects and retries of passing refusals (`stale`,
   * `queue_full`, `unavailable`, `rate_limited`), so the server applies it at most once.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const result = await client.send('standup', { type: 'create', title: 'Stand-up' });
   * assert.equal(result.duplicate, false);
   * await assert.rejects(client.send('standup', { type: 'create' }), (error: ConferenceError) => error.code === 'already_exists');
   * client.close();
   * ```
   */
  send(session: string, command: Command): Promise<CommandResult> {
    if (!ID_PATTERN.test(session)) return Promise.reject(new ConferenceError('invalid_id', `session id ${JSON.stringify(session)} does not match ${ID_PATTERN}`));
    const id = newId();
    const problem = this.#core.submit(id, session, command, nowMs());
    if (problem !== undefined) return Promise.reject(new ConferenceError(problem.code, problem.message));
    const promise = new Promise<CommandResult>((resolve, reject) => this.#waiters.set(id, { resolve, reject }));
    this.#drive();
    return promise;
  }

  /**
   * The round trip to the server in ms. Rejects `not_connected` when no connection is up, `timeout` after `timeoutMs`.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * await client.whenConnected();
   * const roundTripMs = await client.ping();
   * assert.ok(roundTripMs >= 0 && roundTripMs < 1_000);
   * client.close();
   * ```
   */
  ping(timeoutMs: number = this.#core.settings.pongTimeoutMs): Promise<number> {
    if (this.#pings.size >= PINGS_MAX) return Promise.reject(new ConferenceError('queue_full', `${this.#pings.size} pings are outstanding; the limit is ${PINGS_MAX}`));
    const id = newId();
    if (!this.#input(() => this.#core.ping(id))) return Promise.reject(new ConferenceError('not_connected', `not connected (${this.status.state})`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pings.delete(id);
        reject(new ConferenceError('timeout', `no pong within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = <T>(f: (value: T) => void) => (value: T) => {
        clearTimeout(timer);
        f(value);
      };
      this.#pings.set(id, { resolve: settle(resolve), reject: settle(reject), sentMs: nowMs() });
    });
  }

  /**
   * Closes for good: the socket, the timer, every subscription; commands
   * without an answer reject with `closed` (they may or may not have been applied).
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const pending = client.send('standup', { type: 'create' });
   * client.close();
   * await assert.rejects(pending, (error: ConferenceError) => error.code === 'closed');
   * await assert.rejects(client.send('standup', { type: 'end' }), (error: ConferenceError) => error.code === 'closed');
   * ```
   */
  close(): void {
    this.#input(() => this.#core.close());
    for (const { hooks } of this.#sessions.values()) hooks.closed();
    for (const [id, ping] of this.#pings) {
      this.#pings.delete(id);
      ping.reject(new ConferenceError('closed', 'the client was closed'));
    }
  }

  // ---- the adapter: sockets, the timer, events ---------------------------------

  /** Runs one input of the core, then carries out what it asks for. */
  #input<T>(step: () => T): T {
    const result = step();
    this.#drive();
    return result;
  }

  #drive(): void {
    for (let transmit = this.#core.pollTransmit(); transmit !== undefined; transmit = this.#core.pollTransmit()) {
      const socket = this.#socket;
      if (socket !== undefined && socket.connection === transmit.connection) socket.ws.send(transmit.text);
    }
    for (let event = this.#core.pollEvent(); event !== undefined; event = this.#core.pollEvent()) this.#handle(event);
    this.#arm();
  }

  #handle(event: CoreEvent): void {
    switch (event.type) {
      case 'open':
        void this.#open(event.connection, event.url);
        return;
      case 'close':
        return this.#closeSocket(event.connection);
      case 'status':
        for (const listener of this.#statusListeners) listener(event.status);
        return;
      case 'view':
        return this.#sessions.get(event.session)?.hooks.change(event.changes, event.how);
      case 'signal':
        return this.#sessions.get(event.session)?.hooks.signal(event.from, event.payload);
      case 'unsubscribed':
        return this.#sessions.get(event.session)?.hooks.unsubscribed(event.reason);
      case 'settled':
        return this.#settle(event.id, event.outcome);
      case 'server_error':
        for (const listener of this.#errorListeners) listener({ code: event.code, message: event.message, fatal: event.fatal });
        return;
      case 'pong': {
        const ping = this.#pings.get(event.id);
        this.#pings.delete(event.id);
        ping?.resolve(nowMs() - ping.sentMs);
        return;
      }
    }
  }

  #settle(id: string, outcome: Extract<CoreEvent, { type: 'settled' }>['outcome']): void {
    const waiter = this.#waiters.get(id);
    this.#waiters.delete(id);
    if (waiter === undefined) return;
    if (outcome.ok) waiter.resolve({ id, duplicate: outcome.duplicate });
    else waiter.reject(new ConferenceError(outcome.code, outcome.message));
  }

  /** Fetches the token, then dials; every socket event goes to the core tagged with this connection's number. */
  async #open(connection: number, url: string): Promise<void> {
    const fail = (problem: Problem): void => this.#input(() => this.#core.handleClosed(connection, problem, nowMs()));
    let token: string;
    try {
      token = typeof this.#token === 'string' ? this.#token : await this.#token();
    } catch (error) {
      return fail({ code: 'token_failed', message: `the token function failed: ${describe(error)}` });
    }
    if (!this.#core.isCurrent(connection)) return;
    let ws: WebSocketLike;
    try {
      ws = new this.#WebSocket(url);
    } catch (error) {
      return fail({ code: 'connect_failed', message: `cannot open ${url}: ${describe(error)}` });
    }
    this.#socket = { connection, ws };
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.#input(() => this.#core.handleOpen(connection, token, nowMs()));
    };
    ws.onmessage = (event: { readonly data: unknown }) => {
      if (typeof event.data === 'string') this.#input(() => this.#core.handleText(connection, event.data as string, nowMs()));
      else fail({ code: 'protocol_error', message: `${url} sent a binary frame; the protocol is JSON text` });
    };
    ws.onclose = (event: { readonly code: number; readonly reason: string }) => {
      const detail = `${event.code}${event.reason === '' ? '' : ` ${event.reason}`}`;
      fail(opened ? { code: 'connection_closed', message: `${url} closed the connection (${detail})` } : { code: 'connect_failed', message: `cannot connect to ${url} (${detail})` });
    };
    // Every error is followed by a close event, which is what the SDK reports.
    ws.onerror = () => undefined;
  }

  #closeSocket(connection: number): void {
    const socket = this.#socket;
    if (socket === undefined || socket.connection !== connection) return;
    this.#socket = undefined;
    const ws = socket.ws;
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => undefined; // `ws` emits an error when closed while connecting; without a listener Node would throw it
    ws.close(1000, 'client');
  }

  /** Keeps the one timer at the core's earliest deadline. */
  #arm(): void {
    const deadlineMs = this.#core.pollTimeoutMs();
    if (deadlineMs === this.#timerAtMs) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAtMs = deadlineMs;
    if (deadlineMs === undefined) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAtMs = undefined;
        this.#input(() => this.#core.handleTimeout(nowMs()));
      },
      Math.max(0, deadlineMs - nowMs()),
    );
  }
}

type CreateOptions = Omit<Extract<Command, { type: 'create' }>, 'type'>;

/** `{ ...base, [name]: value }` without the property when `value` is undefined (exactOptionalPropertyTypes). */
function withOptional<T extends object, K extends string, V>(base: T, name: K, value: V | undefined): T & Partial<Record<K, V>> {
  return value === undefined ? base : { ...base, [name]: value };
}

/**
 * One followed session: its local mirror and view, listeners for changes and
 * signals, and a typed method per command. Made by `ConferenceClient.session(id)`.
 * Every command method returns the promise of `send`: it resolves on the
 * server's success and rejects with a ConferenceError otherwise.
 *
 * @example
 * ```ts
 * const host = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
 * const guest = new ConferenceClient({ urls: [serverUrl], token: tokenFor('bo'), WebSocket });
 * const hostView = host.session('standup');
 * await hostView.create({ title: 'Stand-up', settings: { lobby: false } });
 * await hostView.join('Ada');
 * const guestView = guest.session('standup');
 * await guestView.join('Bo');
 * await guestView.publishTrack('audio');
 * await hostView.mute('bo');
 * const seen = await guestView.waitFor((v) => v.participants.find((p) => p.id === 'bo')?.tracks.audio?.muted === true);
 * assert.equal(seen.participants.find((p) => p.id === 'bo')?.tracks.audio?.mutedBy, 'ada');
 * host.close();
 * guest.close();
 * ```
 */
export class ConferenceSession {
  readonly #port: SessionPort;
  readonly #changeListeners = new Set<(view: SessionView | undefined) => void>();
  readonly #elementListeners = new Set<(changes: readonly ElementState[], how: ChangeSource) => void>();
  readonly #signalListeners = new Set<(from: string, payload: unknown) => void>();
  readonly #unsubscribedListeners = new Set<(reason: string) => void>();
  /** Rejecters of pending `waitFor`s, called when the session or its client closes. */
  readonly #closeListeners = new Set<() => void>();

  /** Made by `ConferenceClient.session(id)`, which passes its port and takes the hooks it notifies the session through. */
  constructor(
    readonly id: string,
    port: SessionPort,
    expose: (hooks: SessionHooks) => void,
  ) {
    this.#port = port;
    expose({
      change: (changes, how) => {
        if (changes.length > 0) for (const listener of this.#elementListeners) listener(changes, how);
        const view = this.view;
        for (const listener of this.#changeListeners) listener(view);
      },
      signal: (from, payload) => {
        for (const listener of this.#signalListeners) listener(from, payload);
      },
      unsubscribed: (reason) => {
        for (const listener of this.#unsubscribedListeners) listener(reason);
      },
      closed: () => {
        for (const listener of [...this.#closeListeners]) listener();
      },
    });
  }

  /**
   * The session as the last snapshot and deltas left it; undefined before the
   * first snapshot, or while the session does not exist.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * assert.equal(standup.view, undefined);
   * await standup.create({ title: 'Stand-up' });
   * await standup.waitFor((v) => v !== undefined);
   * assert.equal(standup.view?.title, 'Stand-up');
   * client.close();
   * ```
   */
  get view(): SessionView | undefined {
    return this.#port.stream.view;
  }

  /**
   * The local copy of the session's elements (read it; the client writes it).
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create({ engine: 'sfu-1' });
   * await standup.waitFor((v) => v.engine === 'sfu-1');
   * assert.deepEqual(standup.mirror.valueOf('s/standup/engine'), { engine: 'sfu-1' });
   * assert.ok(standup.mirror.tsOf('s/standup/engine') > 0);
   * client.close();
   * ```
   */
  get mirror(): SessionMirror {
    return this.#port.stream.mirror;
  }

  /**
   * `subscribing` until a snapshot or resume arrives, `live` while deltas apply, `unsubscribed` when the server ended it.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * assert.equal(standup.state, 'subscribing');
   * await new Promise((resolve) => standup.onChange(resolve)); // the first snapshot
   * assert.equal(standup.state, 'live');
   * client.close();
   * ```
   */
  get state(): StreamState {
    return this.#port.stream.state;
  }

  /**
   * The stream and seq the mirror holds: what a resume after a reconnect asks for.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.waitFor((v) => v.participants.length === 1);
   * const before = standup.position!.seq;
   * await standup.lock();
   * await standup.waitFor((v) => v.phase === 'locked');
   * assert.equal(standup.position!.seq, before + 1); // one command, one delta
   * client.close();
   * ```
   */
  get position(): StreamPosition | undefined {
    return this.#port.stream.position;
  }

  /**
   * Calls `listener` with the new view after every snapshot, bridging resume and delta; returns the function that stops it.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * const titles: (string | undefined)[] = [];
   * standup.onChange((view) => titles.push(view?.title));
   * await standup.create({ title: 'Stand-up' });
   * await standup.join('Ada');
   * await standup.updateSettings({ lobby: false });
   * await standup.waitFor((v) => v.settings.lobby === false);
   * assert.equal(titles[0], undefined); // the first snapshot: no session yet
   * assert.equal(titles.at(-1), 'Stand-up');
   * client.close();
   * ```
   */
  onChange(listener: (view: SessionView | undefined) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /**
   * Calls `listener` with the element changes the mirror takes, in order:
   * each a newer `{ key, ts, value }` or a deletion (`value` null), and each
   * only once. `how` says what brought them: the first `snapshot` (every
   * element), a `delta`, or a `resume` that bridged a failover or a lost
   * stream — the changes missed meanwhile, as ordinary changes, not a reload.
   * A snapshot that arrives while the mirror holds something (another stream
   * and no bridge) is reconciled by timestamp, and only its real differences
   * are passed on. Called before `onChange` listeners; returns the function that stops it.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * const seen: string[] = [];
   * standup.onElements((changes, how) => {
   *   for (const change of changes) seen.push(`${how} ${change.key} ${change.value === null ? 'deleted' : 'set'}`);
   * });
   * await standup.create({ settings: { lobby: false } });
   * await standup.join('Ada');
   * await standup.raiseHand();
   * await standup.lowerHand();
   * await standup.waitFor((v) => v.hands.length === 0);
   * assert.ok(seen.includes('delta s/standup/hand/ada set'));
   * assert.equal(seen.at(-1), 'delta s/standup/hand/ada deleted');
   * client.close();
   * ```
   */
  onElements(listener: (changes: readonly ElementState[], how: ChangeSource) => void): () => void {
    this.#elementListeners.add(listener);
    return () => this.#elementListeners.delete(listener);
  }

  /**
   * Calls `listener` with each WebRTC signal another member sends to us; returns the function that stops it.
   *
   * @example
   * ```ts
   * const ada = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const bo = new ConferenceClient({ urls: [serverUrl], token: tokenFor('bo'), WebSocket });
   * const adaSession = ada.session('standup');
   * await adaSession.create({ settings: { lobby: false } });
   * await adaSession.join('Ada');
   * await bo.session('standup').join('Bo');
   * const offer = new Promise((resolve) => bo.session('standup').onSignal((from, payload) => resolve({ from, payload })));
   * assert.equal(adaSession.signal('bo', { sdp: 'v=0…', type: 'offer' }), true);
   * assert.deepEqual(await offer, { from: 'ada', payload: { sdp: 'v=0…', type: 'offer' } });
   * ada.close();
   * bo.close();
   * ```
   */
  onSignal(listener: (from: string, payload: unknown) => void): () => void {
    this.#signalListeners.add(listener);
    return () => this.#signalListeners.delete(listener);
  }

  /**
   * Calls `listener` when the subscription ends without `close()`: the
   * participant was kicked or denied, or the server refused the subscribe
   * (its code: `forbidden`, `too_many_subscriptions`…; `rate_limited` is
   * retried instead), or the token is for another session (`wrong_session`,
   * decided by the SDK at connect).
   * The mirror keeps the last state; reconnects do not resubscribe. Returns the function that stops it.
   *
   * @example
   * ```ts
   * const host = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const guest = new ConferenceClient({ urls: [serverUrl], token: tokenFor('bo'), WebSocket });
   * await host.session('standup').create({ settings: { lobby: false } });
   * await host.session('standup').join('Ada');
   * const bo = guest.session('standup');
   * await bo.join('Bo');
   * const ended = new Promise<string>((resolve) => bo.onUnsubscribed(resolve));
   * await host.session('standup').kick('bo');
   * assert.equal(await ended, 'kicked');
   * assert.equal(bo.view?.participants.find((p) => p.id === 'bo')?.presence, 'kicked'); // the last state is kept
   * const elsewhere = guest.session('other-room'); // the token is for 'standup' only
   * assert.equal(elsewhere.state, 'unsubscribed');
   * host.close();
   * guest.close();
   * ```
   */
  onUnsubscribed(listener: (reason: string) => void): () => void {
    this.#unsubscribedListeners.add(listener);
    return () => this.#unsubscribedListeners.delete(listener);
  }

  /**
   * Resolves with the view as soon as `predicate` holds for it (at once if it
   * does now); rejects with `timeout` after `timeoutMs` (default `commandTimeoutMs`),
   * and with `closed` when the session or the client is closed first.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * const opened = standup.waitFor((v) => v.phase === 'open');
   * await standup.create();
   * assert.equal((await opened).phase, 'open');
   * await assert.rejects(standup.waitFor((v) => v.phase === 'ended', 50), (error: ConferenceError) => error.code === 'timeout');
   * const never = standup.waitFor((v) => v.phase === 'ended');
   * client.close();
   * await assert.rejects(never, (error: ConferenceError) => error.code === 'closed'); // no timer outlives the client
   * ```
   */
  waitFor(predicate: (view: SessionView) => boolean, timeoutMs: number = this.#port.commandTimeoutMs): Promise<SessionView> {
    return new Promise((resolve, reject) => {
      const holds = (view: SessionView | undefined): view is SessionView => view !== undefined && predicate(view);
      const now = this.view;
      if (holds(now)) return resolve(now);
      const finish = (): void => {
        clearTimeout(timer);
        stopChanges();
        this.#closeListeners.delete(onClose);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new ConferenceError('timeout', `session ${this.id}: the awaited condition did not hold within ${timeoutMs} ms`));
      }, timeoutMs);
      const onClose = (): void => {
        finish();
        reject(new ConferenceError('closed', `session ${this.id} was closed while waiting`));
      };
      this.#closeListeners.add(onClose);
      const stopChanges = this.onChange((view) => {
        if (!holds(view)) return;
        finish();
        resolve(view);
      });
    });
  }

  /**
   * Relays a WebRTC offer, answer or ICE candidate to member `to`; false when
   * not connected (signals are not queued: a stale one would do harm).
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * assert.equal(standup.signal('bo', { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' }), false); // not connected yet
   * await client.whenConnected();
   * assert.equal(standup.signal('bo', { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' }), true);
   * client.close();
   * ```
   */
  signal(to: string, payload: unknown): boolean {
    return this.#port.signal(to, payload);
  }

  /**
   * Sends any command to this session (see `ConferenceClient.send`).
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.send({ type: 'create', title: 'Stand-up' });
   * await standup.send({ type: 'join', name: 'Ada' });
   * assert.equal((await standup.waitFor((v) => v.participants.length === 1)).participants[0]?.role, 'host');
   * client.close();
   * ```
   */
  send(command: Command): Promise<CommandResult> {
    return this.#port.send(command);
  }

  /**
   * Stops following the session; the client forgets this object (`client.session(id)` makes a new one).
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const first = client.session('standup');
   * first.close();
   * assert.notEqual(client.session('standup'), first);
   * client.close();
   * ```
   */
  close(): void {
    for (const listener of [...this.#closeListeners]) listener();
    this.#changeListeners.clear();
    this.#signalListeners.clear();
    this.#unsubscribedListeners.clear();
    this.#port.close();
  }

  // ---- commands ----------------------------------------------------------------

  /**
   * Creates the session (host or service token); it opens at once unless `scheduledAtMs` is given.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create({ title: 'Stand-up', settings: { maxParticipants: 8 }, engine: 'sfu-1' });
   * const view = await standup.waitFor((v) => v !== undefined);
   * assert.deepEqual([view.title, view.settings.maxParticipants, view.engine], ['Stand-up', 8, 'sfu-1']);
   * client.close();
   * ```
   */
  create(options: CreateOptions = {}): Promise<CommandResult> {
    return this.send({ type: 'create', ...options });
  }

  /**
   * Opens a scheduled session.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create({ scheduledAtMs: Date.now() + 3_600_000 });
   * await standup.join('Ada');
   * assert.equal((await standup.waitFor((v) => v.participants.length === 1)).phase, 'scheduled');
   * await standup.open();
   * await standup.waitFor((v) => v.phase === 'open');
   * client.close();
   * ```
   */
  open(): Promise<CommandResult> {
    return this.send({ type: 'open' });
  }

  /**
   * Joins as the token's participant, with the name others see; with the lobby on, a participant waits there until admitted.
   *
   * @example
   * ```ts
   * const host = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const guest = new ConferenceClient({ urls: [serverUrl], token: tokenFor('bo'), WebSocket });
   * await host.session('standup').create(); // the lobby is on by default
   * await guest.session('standup').join('Bo');
   * const view = await host.session('standup').waitFor((v) => v.participants.length === 1);
   * assert.equal(view.participants[0]?.presence, 'lobby');
   * host.close();
   * guest.close();
   * ```
   */
  join(name: string): Promise<CommandResult> {
    return this.send({ type: 'join', name });
  }

  /**
   * Lets a participant in from the lobby (host or moderator).
   *
   * @example
   * ```ts
   * const host = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const guest = new ConferenceClient({ urls: [serverUrl], token: tokenFor('bo'), WebSocket });
   * await host.session('standup').create();
   * await host.session('standup').join('Ada'); // a host skips the lobby
   * await guest.session('standup').join('Bo');
   * await host.session('standup').admit('bo');
   * const view = await guest.session('standup').waitFor((v) => v.participants.find((p) => p.id === 'bo')?.presence === 'joined');
   * assert.deepEqual(view.participants.map((p) => [p.id, p.presence]), [['ada', 'joined'], ['bo', 'joined']]);
   * host.close();
   * guest.close();
   * ```
   */
  admit(participant: string): Promise<CommandResult> {
    return this.send({ type: 'admit', participant });
  }

  /**
   * Turns a participant away from the lobby (host or moderator); a denied participant may not rejoin.
   *
   * @example
   * ```ts
   * const host = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const guest = new ConferenceClient({ urls: [serverUrl], token: tokenFor('bo'), WebSocket });
   * await host.session('standup').create();
   * await host.session('standup').join('Ada');
   * await guest.session('standup').join('Bo');
   * await host.session('standup').deny('bo');
   * await host.session('standup').waitFor((v) => v.participants.find((p) => p.id === 'bo')?.presence === 'denied');
   * await assert.rejects(guest.session('standup').join('Bo'), (error: ConferenceError) => error.code === 'forbidden');
   * host.close();
   * guest.close();
   * ```
   */
  deny(participant: string): Promise<CommandResult> {
    return this.send({ type: 'deny', participant });
  }

  /**
   * Leaves the session.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.leave();
   * const view = await standup.waitFor((v) => v.participants[0]?.presence === 'left');
   * assert.equal(view.participants.length, 1); // the view keeps everyone ever seen, with their presence
   * client.close();
   * ```
   */
  leave(): Promise<CommandResult> {
    return this.send({ type: 'leave' });
  }

  /**
   * Removes a participant (host or moderator); a kicked participant may not rejoin.
   *
   * @example
   * ```ts
   * const host = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const guest = new ConferenceClient({ urls: [serverUrl], token: tokenFor('bo'), WebSocket });
   * await host.session('standup').create({ settings: { lobby: false } });
   * await host.session('standup').join('Ada');
   * await guest.session('standup').join('Bo');
   * await host.session('standup').kick('bo');
   * await guest.session('standup').waitFor((v) => v.participants.find((p) => p.id === 'bo')?.presence === 'kicked');
   * await assert.rejects(guest.session('standup').raiseHand(), (error: ConferenceError) => error.code === 'not_member');
   * host.close();
   * guest.close();
   * ```
   */
  kick(participant: string): Promise<CommandResult> {
    return this.send({ type: 'kick', participant });
  }

  /**
   * Mutes a participant's track (audio unless `kind` says otherwise): one's own, or anyone's as host or moderator.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.publishTrack('video');
   * await standup.mute('ada', 'video');
   * const view = await standup.waitFor((v) => v.participants[0]?.tracks.video?.muted === true);
   * assert.equal(view.participants[0]?.tracks.video?.mutedBy, null); // muted by herself
   * client.close();
   * ```
   */
  mute(participant: string, kind?: TrackKind): Promise<CommandResult> {
    return this.send(withOptional({ type: 'mute' as const, participant }, 'kind', kind));
  }

  /**
   * Unmutes a participant's track (audio unless `kind` says otherwise).
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.publishTrack('audio', { muted: true });
   * await standup.unmute('ada');
   * const view = await standup.waitFor((v) => v.participants[0]?.tracks.audio?.muted === false);
   * assert.equal(view.participants[0]?.tracks.audio?.published, true);
   * client.close();
   * ```
   */
  unmute(participant: string, kind?: TrackKind): Promise<CommandResult> {
    return this.send(withOptional({ type: 'unmute' as const, participant }, 'kind', kind));
  }

  /**
   * Mutes the audio of everyone present except hosts, moderators and oneself.
   *
   * @example
   * ```ts
   * const host = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const guest = new ConferenceClient({ urls: [serverUrl], token: tokenFor('bo'), WebSocket });
   * await host.session('standup').create({ settings: { lobby: false } });
   * await host.session('standup').join('Ada');
   * await host.session('standup').publishTrack('audio');
   * await guest.session('standup').join('Bo');
   * await guest.session('standup').publishTrack('audio');
   * await host.session('standup').muteAll();
   * const view = await host.session('standup').waitFor((v) => v.participants.find((p) => p.id === 'bo')?.tracks.audio?.muted === true);
   * assert.equal(view.participants.find((p) => p.id === 'ada')?.tracks.audio?.muted, false); // not the host herself
   * host.close();
   * guest.close();
   * ```
   */
  muteAll(): Promise<CommandResult> {
    return this.send({ type: 'mute_all' });
  }

  /**
   * Raises one's hand; `view.hands` lists raised hands in the order they went up.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.raiseHand();
   * const view = await standup.waitFor((v) => v.hands.length === 1);
   * assert.deepEqual([view.hands, view.participants[0]?.handPosition], [['ada'], 0]);
   * client.close();
   * ```
   */
  raiseHand(): Promise<CommandResult> {
    return this.send({ type: 'raise_hand' });
  }

  /**
   * Lowers one's own hand, or another's (host or moderator).
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.raiseHand();
   * await standup.waitFor((v) => v.hands.length === 1);
   * await standup.lowerHand();
   * const view = await standup.waitFor((v) => v.hands.length === 0);
   * assert.equal(view.participants[0]?.handPosition, null);
   * client.close();
   * ```
   */
  lowerHand(participant?: string): Promise<CommandResult> {
    return this.send(withOptional({ type: 'lower_hand' as const }, 'participant', participant));
  }

  /**
   * Gives a participant another role (host).
   *
   * @example
   * ```ts
   * const host = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const guest = new ConferenceClient({ urls: [serverUrl], token: tokenFor('bo'), WebSocket });
   * await host.session('standup').create({ settings: { lobby: false } });
   * await host.session('standup').join('Ada');
   * await guest.session('standup').join('Bo');
   * await assert.rejects(guest.session('standup').lock(), (error: ConferenceError) => error.code === 'forbidden');
   * await host.session('standup').setRole('bo', 'moderator');
   * await guest.session('standup').waitFor((v) => v.participants.find((p) => p.id === 'bo')?.role === 'moderator');
   * await guest.session('standup').lock(); // a moderator may
   * host.close();
   * guest.close();
   * ```
   */
  setRole(participant: string, role: Role): Promise<CommandResult> {
    return this.send({ type: 'set_role', participant, role });
  }

  /**
   * Announces one's audio, video or screen track (viewers may not; screen only as the settings allow).
   *
   * @example
   * ```ts
   * const host = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const viewer = new ConferenceClient({ urls: [serverUrl], token: tokenFor('cy', 'viewer'), WebSocket });
   * await host.session('standup').create({ settings: { lobby: false } });
   * await viewer.session('standup').join('Cy');
   * await assert.rejects(viewer.session('standup').publishTrack('audio'), (error: ConferenceError) => error.code === 'forbidden');
   * await host.session('standup').join('Ada');
   * await host.session('standup').publishTrack('screen');
   * await host.session('standup').waitFor((v) => v.participants.find((p) => p.id === 'ada')?.tracks.screen?.published === true);
   * host.close();
   * viewer.close();
   * ```
   */
  publishTrack(kind: TrackKind, options: { readonly muted?: boolean } = {}): Promise<CommandResult> {
    return this.send(withOptional({ type: 'publish_track' as const, kind }, 'muted', options.muted));
  }

  /**
   * Withdraws one's track.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.publishTrack('video');
   * await standup.unpublishTrack('video');
   * const view = await standup.waitFor((v) => v.participants[0]?.tracks.video?.published === false);
   * assert.deepEqual(Object.keys(view.participants[0]!.tracks), ['video']);
   * client.close();
   * ```
   */
  unpublishTrack(kind: TrackKind): Promise<CommandResult> {
    return this.send({ type: 'unpublish_track', kind });
  }

  /**
   * Locks the session: nobody new may join (host or moderator).
   *
   * @example
   * ```ts
   * const host = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const late = new ConferenceClient({ urls: [serverUrl], token: tokenFor('dee'), WebSocket });
   * await host.session('standup').create();
   * await host.session('standup').join('Ada');
   * await host.session('standup').lock();
   * await assert.rejects(late.session('standup').join('Dee'), (error: ConferenceError) => error.code === 'session_locked');
   * host.close();
   * late.close();
   * ```
   */
  lock(): Promise<CommandResult> {
    return this.send({ type: 'lock' });
  }

  /**
   * Unlocks a locked session.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.lock();
   * await standup.unlock();
   * assert.equal((await standup.waitFor((v) => v.phase === 'open')).phase, 'open');
   * client.close();
   * ```
   */
  unlock(): Promise<CommandResult> {
    return this.send({ type: 'unlock' });
  }

  /**
   * Starts recording (host or moderator).
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.startRecording();
   * const view = await standup.waitFor((v) => v.recording.active);
   * assert.equal(view.recording.by, 'ada');
   * client.close();
   * ```
   */
  startRecording(): Promise<CommandResult> {
    return this.send({ type: 'start_recording' });
  }

  /**
   * Stops recording.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.startRecording();
   * await standup.stopRecording();
   * const view = await standup.waitFor((v) => !v.recording.active);
   * assert.equal(view.recording.sinceMs, null);
   * client.close();
   * ```
   */
  stopRecording(): Promise<CommandResult> {
    return this.send({ type: 'stop_recording' });
  }

  /**
   * Changes some settings (host); the others keep their values.
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.updateSettings({ screenShare: 'moderators' });
   * const view = await standup.waitFor((v) => v.settings.screenShare === 'moderators');
   * assert.equal(view.settings.lobby, true);
   * client.close();
   * ```
   */
  updateSettings(settings: Partial<SessionSettings>): Promise<CommandResult> {
    return this.send({ type: 'update_settings', settings });
  }

  /**
   * Names the media engine hosting the session, or none. Sent by a service
   * token (session `*`): the media engine itself or a backend, not a participant.
   *
   * @example
   * ```ts
   * const host = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const sfu = new ConferenceClient({ urls: [serverUrl], token: tokenFor('sfu-eu-2', 'host', '*'), WebSocket });
   * await host.session('standup').create();
   * await host.session('standup').join('Ada');
   * await assert.rejects(host.session('standup').setEngine('mine'), (error: ConferenceError) => error.code === 'forbidden');
   * await sfu.session('standup').setEngine('sfu-eu-2');
   * assert.equal((await host.session('standup').waitFor((v) => v.engine !== null)).engine, 'sfu-eu-2');
   * host.close();
   * sfu.close();
   * ```
   */
  setEngine(engine: string | null): Promise<CommandResult> {
    return this.send({ type: 'set_engine', engine });
  }

  /**
   * Ends the session for everyone (host).
   *
   * @example
   * ```ts
   * const client = new ConferenceClient({ urls: [serverUrl], token, WebSocket });
   * const standup = client.session('standup');
   * await standup.create();
   * await standup.join('Ada');
   * await standup.end();
   * await standup.waitFor((v) => v.phase === 'ended');
   * await assert.rejects(standup.join('Ada'), (error: ConferenceError) => error.code === 'session_ended');
   * client.close();
   * ```
   */
  end(): Promise<CommandResult> {
    return this.send({ type: 'end' });
  }
}
