/** One WebSocket client: hello and its deadline, then subscribe / command /
 *  signal / ping, each message parsed and schema-checked, rate-limited by a
 *  token bucket, and answered; errors that end the connection close only it.
 *  It does not know other connections (the gateway relays signals and tracks
 *  members) nor the rules of commands (the command service). Policy on bad
 *  input: every invalid message is answered with an `error` naming the field
 *  and the connection stays, until `invalidMessagesMax` of them close it. */

import type { WebSocket } from 'ws';
import { API_PROTOCOL_VERSION, type ClientMessage, type NodeInfo, type ServerMessage } from '../conference/api.ts';
import { actorOf, checkSessionAccess, type Principal, type TokenVerifier } from './auth.ts';
import type { CommandResult, CommandService } from './command-service.ts';
import type { ServerLimits } from './config.ts';
import { ERRORS, type ErrorCode, type Refusal, refusal } from './errors.ts';
import type { Hub, HubSubscriber } from './hub.ts';
import { TokenBucket } from './rate-limit.ts';
import { checkKnown } from './resume-bridge.ts';
import { checkClientMessage } from './schemas.ts';
import type { Corkable, WriteBatcher } from './write-batch.ts';

/** What a connection needs of the rest of the server. */
export interface ConnectionContext {
  readonly limits: ServerLimits;
  readonly verifier: TokenVerifier;
  readonly hub: Hub;
  readonly commands: CommandService;
  readonly clock: { nowMs(): number };
  readonly clockToleranceMs: number;
  /** Gathers each turn's frames to one client into one write. */
  readonly batcher: WriteBatcher;
  /** What this node is, for `welcome`. */
  nodeInfo(): NodeInfo;
  /** Why this node may not serve reads now (still catching up), or undefined. */
  readRefusal(): Refusal | undefined;
  /** Membership bookkeeping and presence (gateway). */
  attach(connection: Connection, session: string): void;
  detach(connection: Connection, session: string): void;
  /** Relays a signal to the target's connections; a refusal when it may not. */
  relay(connection: Connection, message: Extract<ClientMessage, { type: 'signal' }>): Refusal | undefined;
  /** Kicked or denied: may not follow the session. */
  refusedFrom(session: string, participant: string): boolean;
  closed(connection: Connection): void;
  errorSent(code: ErrorCode): void;
  logBug(error: unknown, context: string): void;
}

type State = 'awaiting_hello' | 'authenticating' | 'ready' | 'closed';

/** After a fatal error the close handshake gets this long before the socket is destroyed (a slow consumer may never read it). */
const CLOSE_GRACE_MS = 1_000;
/** setTimeout's longest delay (2^31 - 1 ms); a token that lives longer is re-checked then. */
const TIMER_DELAY_MAX_MS = 2_147_483_647;

export class Connection implements HubSubscriber {
  #state: State = 'awaiting_hello';
  #principal: Principal | undefined;
  readonly #subscriptions = new Set<string>();
  readonly #pipeline: string[] = [];
  readonly #bucket: TokenBucket;
  #invalidCount = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: WebSocket,
    readonly context: ConnectionContext,
    /** The TCP (or TLS) stream under `socket`, corked by the batcher. */
    readonly stream: Corkable,
  ) {
    const { limits, clock } = context;
    this.#bucket = new TokenBucket(limits.messagesPerSecond, limits.messageBurst, clock.nowMs());
    this.#timer = setTimeout(() => this.fail(refusal('hello_timeout', `no hello within ${limits.helloTimeoutMs} ms`)), limits.helloTimeoutMs);
    socket.on('message', (data, isBinary) => this.#onFrame(data as Buffer, isBinary));
    socket.on('close', () => this.#onClose());
    socket.on('error', () => this.socket.terminate()); // a protocol error (bad frame, too large): ws closes it; nothing to answer
  }

  get principal(): Principal | undefined {
    return this.#principal;
  }

  get subscriptions(): ReadonlySet<string> {
    return this.#subscriptions;
  }

  /** Sends one message; a client that does not read is closed rather than buffered without bound. */
  send(text: string): void {
    if (this.#state === 'closed') return;
    if (this.socket.bufferedAmount > this.context.limits.wsBufferedBytesMax) {
      this.fail(refusal('slow_consumer', `more than ${this.context.limits.wsBufferedBytesMax} bytes were waiting to be sent to this client`));
      return;
    }
    this.context.batcher.hold(this.stream);
    this.socket.send(text);
  }

  /** Ends the connection with a fatal error (its close code from the error table). */
  fail(error: Refusal): void {
    if (this.#state === 'closed') return;
    const spec = ERRORS[error.code].ws;
    const closeCode = spec.kind === 'close' ? spec.closeCode : 4400;
    this.context.errorSent(error.code);
    if (this.socket.bufferedAmount <= this.context.limits.wsBufferedBytesMax) {
      this.socket.send(JSON.stringify({ type: 'error', code: error.code, message: error.message, fatal: true } satisfies ServerMessage));
    }
    this.#onClose();
    this.socket.close(closeCode, error.code);
    setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** Stops following a session because of something outside the client (kicked, denied). */
  forceUnsubscribe(session: string, reason: string): void {
    if (!this.#subscriptions.delete(session)) return;
    this.context.hub.unsubscribe(session, this);
    this.context.detach(this, session);
    this.send(JSON.stringify({ type: 'unsubscribed', session, reason } satisfies ServerMessage));
  }

  #error(error: Refusal): void {
    this.context.errorSent(error.code);
    this.send(JSON.stringify({ type: 'error', code: error.code, message: error.message, fatal: false } satisfies ServerMessage));
  }

  #invalid(error: Refusal): void {
    if (++this.#invalidCount >= this.context.limits.invalidMessagesMax) {
      this.fail(refusal('too_many_errors', `${this.#invalidCount} invalid messages; the last: ${error.message}`));
      return;
    }
    this.#error(error);
  }

  #onFrame(data: Buffer, isBinary: boolean): void {
    if (this.#state === 'closed') return;
    if (isBinary) {
      this.#invalid(refusal('invalid_request', 'binary frames are not accepted: send JSON text'));
      return;
    }
    const text = data.toString('utf8');
    if (this.#state === 'authenticating') {
      if (this.#pipeline.length >= this.context.limits.helloPipelineMax) {
        this.fail(refusal('hello_required', `more than ${this.context.limits.helloPipelineMax} messages arrived before welcome`));
      } else this.#pipeline.push(text);
      return;
    }
    this.#onText(text);
  }

  #onText(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      const problem = `the message is not JSON: ${(error as Error).message}`;
      if (this.#state === 'awaiting_hello') this.fail(refusal('hello_required', `the first message must be a valid hello; ${problem}`));
      else this.#invalid(refusal('invalid_json', problem));
      return;
    }
    const checked = checkClientMessage(value);
    if (!checked.ok) {
      if (this.#state === 'awaiting_hello') this.fail(refusal('hello_required', `the first message must be a valid hello: ${checked.problem.message}`));
      else this.#invalid(refusal('invalid_request', checked.problem.message));
      return;
    }
    try {
      this.#dispatch(checked.value);
    } catch (error) {
      this.context.logBug(error, `handling a ${checked.value.type} message`);
      this.#error(refusal('internal', 'the server failed to handle this message; it has been logged'));
    }
  }

  #dispatch(message: ClientMessage): void {
    if (this.#state === 'awaiting_hello') {
      if (message.type !== 'hello') this.fail(refusal('hello_required', `the first message must be hello, got ${message.type}`));
      else void this.#hello(message.token, message.protocol);
      return;
    }
    if (message.type === 'hello') {
      this.#invalid(refusal('invalid_request', 'hello was already accepted on this connection'));
      return;
    }
    if (!this.#bucket.take(this.context.clock.nowMs())) {
      this.#rateLimited(message);
      return;
    }
    switch (message.type) {
      case 'subscribe':
        return this.#subscribe(message);
      case 'unsubscribe':
        return this.#unsubscribe(message.session);
      case 'command':
        return void this.#command(message);
      case 'signal': {
        const refused = this.context.relay(this, message);
        if (refused !== undefined) this.#error(refused);
        return;
      }
      case 'ping':
        return this.send(JSON.stringify({ type: 'pong', id: message.id } satisfies ServerMessage));
    }
  }

  #rateLimited(message: ClientMessage): void {
    const limits = this.context.limits;
    const error = refusal('rate_limited', `more than ${limits.messagesPerSecond} messages/s (burst ${limits.messageBurst}); slow down`);
    if (message.type === 'command') this.#result(message.id, { ok: false, duplicate: false, error });
    else if (message.type === 'subscribe') this.#refuseSubscribe(message.session, error);
    else this.#error(error);
  }

  async #hello(token: string, protocol: number): Promise<void> {
    if (protocol !== API_PROTOCOL_VERSION) {
      this.fail(refusal('unsupported_protocol', `this server speaks protocol ${API_PROTOCOL_VERSION}, not ${protocol}`));
      return;
    }
    this.#state = 'authenticating';
    const check = await this.context.verifier.verify(token);
    if (this.#state !== 'authenticating') return; // closed meanwhile
    if (!check.ok) {
      this.fail(check.error);
      return;
    }
    const principal = check.principal;
    this.#principal = principal;
    this.#state = 'ready';
    clearTimeout(this.#timer);
    this.#armExpiry();
    const welcome: ServerMessage = {
      type: 'welcome', participant: principal.participant, session: principal.session, role: principal.role, service: principal.service, node: this.context.nodeInfo(),
      limits: { messageBytesMax: this.context.limits.wsMessageBytesMax, resumeKnownMax: this.context.limits.resumeKnownMax },
    };
    this.send(JSON.stringify(welcome));
    for (const text of this.#pipeline.splice(0)) this.#onText(text);
  }

  /** Closes the connection when its token expires: a token's authority does not outlive it. */
  #armExpiry(): void {
    const untilMs = this.#principal!.expiresAtMs + this.context.clockToleranceMs - this.context.clock.nowMs();
    this.#timer = setTimeout(() => {
      if (untilMs > TIMER_DELAY_MAX_MS) this.#armExpiry();
      else this.fail(refusal('token_expired', 'the token expired; reconnect with a new one'));
    }, Math.max(0, Math.min(untilMs, TIMER_DELAY_MAX_MS)));
    this.#timer.unref();
  }

  #subscribe({ session, resume, known }: Extract<ClientMessage, { type: 'subscribe' }>): void {
    // A bad `known` is bad input like a schema failure: answered, nothing changes (a subscription held stays as it was).
    const badKnown = known === undefined ? undefined : checkKnown(session, resume, known, this.context.limits.resumeKnownMax);
    if (badKnown !== undefined) return this.#invalid(badKnown);
    const principal = this.#principal!;
    const denied = checkSessionAccess(principal, session);
    if (denied !== undefined) return this.#refuseSubscribe(session, denied);
    if (!principal.service && this.context.refusedFrom(session, principal.participant)) {
      return this.#refuseSubscribe(session, refusal('forbidden', `participant ${JSON.stringify(principal.participant)} was removed from session ${JSON.stringify(session)}`));
    }
    const incomplete = this.context.readRefusal();
    if (incomplete !== undefined) return this.#refuseSubscribe(session, incomplete);
    if (this.#subscriptions.has(session)) this.context.hub.unsubscribe(session, this); // a re-subscribe starts over
    else {
      if (this.#subscriptions.size >= this.context.limits.subscriptionsPerConnectionMax) {
        const limit = this.context.limits.subscriptionsPerConnectionMax;
        return this.#refuseSubscribe(session, refusal('too_many_subscriptions', `this connection follows ${this.#subscriptions.size} sessions; the limit is ${limit}`));
      }
      this.#subscriptions.add(session);
      this.context.attach(this, session);
    }
    for (const text of this.context.hub.subscribe(session, this, resume, known)) this.send(text);
  }

  /** A refused subscribe: the error, then `unsubscribed` naming the session, so a client knows which subscription ended. */
  #refuseSubscribe(session: string, error: Refusal): void {
    this.#error(error);
    this.send(JSON.stringify({ type: 'unsubscribed', session, reason: error.code } satisfies ServerMessage));
  }

  #unsubscribe(session: string): void {
    if (!this.#subscriptions.has(session)) return this.#error(refusal('not_subscribed', `this connection does not follow session ${JSON.stringify(session)}`));
    this.forceUnsubscribe(session, 'requested');
  }

  async #command(message: Extract<ClientMessage, { type: 'command' }>): Promise<void> {
    const principal = this.#principal!;
    const denied = checkSessionAccess(principal, message.session);
    if (denied !== undefined) return this.#result(message.id, { ok: false, duplicate: false, error: denied });
    let result: CommandResult;
    try {
      result = await this.context.commands.execute({ session: message.session, actor: actorOf(principal), requestId: message.id, command: message.command });
    } catch (error) {
      this.context.logBug(error, `command ${message.command.type} in session ${message.session}`);
      result = { ok: false, duplicate: false, error: refusal('internal', 'the command failed inside the server; it has been logged') };
    }
    this.context.hub.flush(message.session); // the client sees the change before the result
    this.#result(message.id, result);
  }

  #result(id: string, result: CommandResult): void {
    if (result.ok) {
      this.send(JSON.stringify({ type: 'result', id, ok: true, duplicate: result.duplicate } satisfies ServerMessage));
      return;
    }
    this.context.errorSent(result.error.code);
    const message: ServerMessage = { type: 'result', id, ok: false, code: result.error.code, message: result.error.message, ...(result.error.primaryUrl === undefined ? {} : { primaryUrl: result.error.primaryUrl }) };
    this.send(JSON.stringify(message));
  }

  #onClose(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#timer);
    for (const session of this.#subscriptions) {
      this.context.hub.unsubscribe(session, this);
      this.context.detach(this, session);
    }
    this.#subscriptions.clear();
    this.context.closed(this);
  }
}
