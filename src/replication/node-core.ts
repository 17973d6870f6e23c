/** What both node state machines share: connection bookkeeping, outgoing
 *  frames, log events, and the element API's read path. Pure: no sockets,
 *  timers or wall clock; the adapter feeds bytes and time in. */

import type { ElementStore } from '../core/element-store.ts';
import type { HybridClock } from '../core/clock.ts';
import { DecodeError } from './wire.ts';
import { type Message, FrameDecoder, appendFrame, decodeBody } from './messages.ts';
import { WireWriter } from './wire.ts';
import { AcceptorHandshake, type Authenticator, type DialerHandshake, type HandshakeIdentity } from './handshake.ts';
import { NONCE_BYTES, type Role } from './messages.ts';

export type ConnectionId = number;

/** What a node asks its adapter to do. */
export type Outgoing =
  | { readonly kind: 'send'; readonly connectionId: ConnectionId; readonly bytes: Uint8Array }
  | { readonly kind: 'close'; readonly connectionId: ConnectionId; readonly reason: string }
  /** Secondary only: open a connection to the primary and report it with handleDialed. */
  | { readonly kind: 'dial' };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogEvent {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** Everything from outside a node's state machine: built by the composition root. */
export interface NodeEnvironment {
  readonly clock: HybridClock;
  readonly authenticator: Authenticator;
  /** Cryptographically random bytes (handshake nonces). */
  randomBytes(count: number): Uint8Array;
}

export interface Connection {
  readonly id: ConnectionId;
  readonly openedAtMs: number;
  readonly decoder: FrameDecoder;
  handshake: AcceptorHandshake | DialerHandshake | undefined;
  /** Set once the handshake succeeded. */
  peer: HandshakeIdentity | undefined;
  lastHeardMs: number;
  /** Requests of a client connection not yet answered. */
  outstanding: number;
  closed: boolean;
  /** Frames waiting to go out to it, in one growing buffer (NodeBase.send). */
  batch: WireWriter | undefined;
  /**
   * Bytes of its last batch: the next one starts that large, so a stream of large batches (a
   * catch-up sends megabytes per flush) is not copied again and again while its buffer doubles.
   */
  lastBatchBytes: number;
}

/** A connection's batch buffer starts at least this large (most batches are a few small frames). */
const BATCH_BYTES_MIN = 4096;
/** ... and at most this large, whatever its last batch was (a catch-up flush is 2–3 MiB). */
const BATCH_BYTES_HINT_MAX = 4 * 1024 * 1024;

/** Nodes keep values as validated JSON text: parsed only if someone reads them. */
const LAZY_VALUES = { lazyValues: true };

function decodeLazily(body: Uint8Array): Message {
  return decodeBody(body, LAZY_VALUES);
}

/** Output queues and connection table common to primary and secondary. */
export class NodeBase {
  readonly store: ElementStore;
  protected readonly connections = new Map<ConnectionId, Connection>();
  readonly #outgoing: Outgoing[] = [];
  #outgoingHead = 0;
  readonly #events: LogEvent[] = [];
  #eventsHead = 0;
  /**
   * Connections with frames waiting in their batch, in the order their first frame came. A
   * reused array and a field per connection, not a Map of batches: at one client the Map's
   * set and delete per frame (it grows and shrinks its table) was 300 bytes of garbage per update.
   */
  readonly #batched: Connection[] = [];

  constructor(
    store: ElementStore,
    protected readonly env: NodeEnvironment,
    protected readonly frameBytesMax: number,
  ) {
    this.store = store;
  }

  /** The next thing for the adapter to do, oldest first. */
  pollTransmit(): Outgoing | undefined {
    if (this.#batched.length > 0) this.#flushBatches();
    if (this.#outgoingHead === this.#outgoing.length) return undefined;
    const next = this.#outgoing[this.#outgoingHead++];
    if (this.#outgoingHead === this.#outgoing.length) this.#outgoing.length = this.#outgoingHead = 0;
    return next;
  }

  /** The next log event, oldest first. */
  pollEvent(): LogEvent | undefined {
    if (this.#eventsHead === this.#events.length) return undefined;
    const next = this.#events[this.#eventsHead++];
    if (this.#eventsHead === this.#events.length) this.#events.length = this.#eventsHead = 0;
    return next;
  }

  /** Open connections, by role of the peer ('pending' before the handshake ends). */
  connectionCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const connection of this.connections.values()) {
      const role = connection.peer?.role ?? 'pending';
      counts[role] = (counts[role] ?? 0) + 1;
    }
    return counts;
  }

  #flushBatches(): void {
    const batched = this.#batched;
    for (let i = 0; i < batched.length; i++) this.#flushBatch(batched[i]!);
    batched.length = 0;
  }

  #flushBatch(connection: Connection): void {
    const batch = connection.batch;
    if (batch === undefined) return;
    connection.batch = undefined;
    connection.lastBatchBytes = batch.length;
    this.#outgoing.push({ kind: 'send', connectionId: connection.id, bytes: batch.finish() });
  }

  protected log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    this.#events.push(fields === undefined ? { level, message } : { level, message, fields });
  }

  protected dial(): void {
    this.#outgoing.push({ kind: 'dial' });
  }

  /** Queues a message; every message for one connection until the next poll leaves in one buffer. */
  protected send(connection: Connection, message: Message): void {
    if (connection.closed) return;
    let batch = connection.batch;
    if (batch === undefined) {
      const capacity = Math.min(BATCH_BYTES_HINT_MAX, Math.max(BATCH_BYTES_MIN, connection.lastBatchBytes));
      connection.batch = batch = new WireWriter(capacity);
      this.#batched.push(connection);
    }
    appendFrame(message, batch);
  }

  /** Closes one connection; the caller's own cleanup runs in `forget`. */
  protected close(connection: Connection, reason: string): void {
    if (connection.closed) return;
    this.#flushBatch(connection); // what was said before the close still goes out
    connection.closed = true;
    this.#outgoing.push({ kind: 'close', connectionId: connection.id, reason });
    this.connections.delete(connection.id);
    this.forget(connection, reason);
  }

  /** The peer closed `connectionId`: forgets it and returns it (undefined if unknown). */
  protected peerClosed(connectionId: ConnectionId): Connection | undefined {
    const connection = this.connections.get(connectionId);
    if (connection === undefined) return undefined;
    connection.closed = true;
    this.connections.delete(connectionId);
    connection.batch = undefined;
    this.forget(connection, 'peer closed the connection');
    return connection;
  }

  /** Closes every connection (the node is shutting down or changing role). */
  closeAll(reason: string): void {
    for (const connection of [...this.connections.values()]) this.close(connection, reason);
  }

  /** Subclasses drop what they tracked for a connection that is gone. */
  protected forget(_connection: Connection, _reason: string): void {}

  protected newConnection(id: ConnectionId, nowMs: number): Connection {
    const connection: Connection = {
      id,
      openedAtMs: nowMs,
      decoder: new FrameDecoder(this.frameBytesMax),
      handshake: undefined,
      peer: undefined,
      lastHeardMs: nowMs,
      outstanding: 0,
      closed: false,
      batch: undefined,
      lastBatchBytes: 0,
    };
    this.connections.set(id, connection);
    return connection;
  }

  /** A connection someone opened to this node: it must pass the handshake as one of `acceptRoles`. */
  protected accept(connectionId: ConnectionId, nowMs: number, self: HandshakeIdentity, acceptRoles: readonly Role[]): Connection {
    const connection = this.newConnection(connectionId, nowMs);
    const digest = this.store.digest;
    connection.handshake = new AcceptorHandshake(
      self,
      this.env.authenticator,
      this.env.randomBytes(NONCE_BYTES),
      () => ({ type: 'welcome', role: self.role, epoch: self.epoch, digestLeafBits: digest.leafBits, digestFanoutBits: digest.fanoutBits }),
      acceptRoles,
    );
    return connection;
  }

  /**
   * Splits bytes into messages. Returns them, or undefined after closing the
   * connection for a malformed, truncated-type or oversized frame: a bad peer
   * loses its connection and changes nothing.
   */
  protected decode(connection: Connection, bytes: Uint8Array, nowMs: number): Message[] | undefined {
    return this.decodeWith(connection, bytes, nowMs, decodeLazily);
  }

  /** `decode` with another decoder for frame bodies (one that throws DecodeError for a malformed one). */
  protected decodeWith<T>(connection: Connection, bytes: Uint8Array, nowMs: number, decodeOne: (body: Uint8Array) => T): T[] | undefined {
    const bodies = connection.decoder.push(bytes);
    if (bodies instanceof DecodeError) {
      this.log('warn', 'closing connection: bad frame', { connection: connection.id, problem: bodies.message });
      this.close(connection, `bad frame: ${bodies.message}`);
      return undefined;
    }
    connection.lastHeardMs = nowMs;
    const messages: T[] = [];
    for (const body of bodies) {
      try {
        messages.push(decodeOne(body));
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        this.log('warn', 'closing connection: malformed message', { connection: connection.id, problem: error.message });
        // Tell the peer why before closing: a client learns which of its inputs was bad.
        this.send(connection, { type: 'refuse', code: 'malformed_message', message: error.message });
        this.close(connection, `malformed message: ${error.message}`);
        return undefined;
      }
    }
    return messages;
  }

  /** Answers a `get` from the local store. */
  protected answerGet(connection: Connection, requestId: number, key: string): void {
    const element = this.store.get(key);
    if (element === undefined) this.send(connection, { type: 'value', requestId, found: false, ts: 0, deleted: false, value: null });
    else this.send(connection, { type: 'value', requestId, found: true, ts: element.ts, deleted: element.deleted, value: element.storedValue });
  }

  /** Closes connections whose handshake did not finish in time; returns the next such deadline. */
  protected expireHandshakes(nowMs: number, handshakeTimeoutMs: number): number | undefined {
    let next: number | undefined;
    for (const connection of [...this.connections.values()]) {
      if (connection.peer !== undefined) continue;
      const deadline = connection.openedAtMs + handshakeTimeoutMs;
      if (nowMs >= deadline) {
        this.log('warn', 'closing connection: handshake timed out', { connection: connection.id, handshakeTimeoutMs });
        this.close(connection, 'handshake timed out');
      } else if (next === undefined || deadline < next) next = deadline;
    }
    return next;
  }
}
