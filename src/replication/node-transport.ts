/** The one file in src/replication that touches sockets and timers: it runs a
 *  Primary or Secondary state machine over node:net or node:tls. It frames
 *  nothing itself and decides nothing: bytes in → handle*, poll* → bytes out,
 *  one timer armed at pollTimeoutMs(). */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import type { Authenticator } from './handshake.ts';
import type { LogEvent, Outgoing } from './node-core.ts';

/** The state machine surface the adapter drives (Primary and Secondary both fit). */
export interface DrivenNode {
  handleConnect(connectionId: number, nowMs: number): void;
  handleBytes(connectionId: number, bytes: Uint8Array, nowMs: number): void;
  handleDisconnect(connectionId: number, nowMs: number): void;
  handleTimeout(nowMs: number): void;
  pollTransmit(): Outgoing | undefined;
  pollEvent(): LogEvent | undefined;
  pollTimeoutMs(): number;
  handleDialed?(connectionId: number, nowMs: number): void;
  handleDialFailed?(reason: string, nowMs: number): void;
}

export interface TlsFiles {
  readonly certPath: string;
  readonly keyPath: string;
  readonly caPath: string;
}

export interface Address {
  readonly host: string;
  readonly port: number;
}

export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface TransportOptions {
  readonly listen: Address | undefined;
  /** Secondary: where `dial` outgoings connect. */
  readonly dialTo?: Address;
  readonly tls?: TlsFiles;
  readonly logger: Logger;
  /** Stop reading from a socket whose unsent output exceeds this (a client not reading its answers). */
  readonly socketWriteBufferMax?: number;
}

/**
 * A read of at least this many bytes is answered at once rather than at the
 * end of the event-loop turn. Measured on 2 cores: deferring every drain
 * doubled throughput with one small request per connection (64 connections),
 * but cost a third with a few busy connections (64 clients on 4), where each
 * read already carries a batch; 2 KiB (about 16 updates) separates the two.
 */
const DRAIN_NOW_BYTES = 2048;

/** Monotonic milliseconds for the state machines' timeouts. */
export function monotonicNowMs(): number {
  return performance.now();
}

/** HMAC-SHA256 over the shared secret, checked in constant time. */
export function hmacAuthenticator(secret: Uint8Array): Authenticator {
  const key = Buffer.from(secret);
  return {
    sign: (data) => createHmac('sha256', key).update(data).digest(),
    verify: (data, proof) => {
      const expected = createHmac('sha256', key).update(data).digest();
      return proof.length === expected.length && timingSafeEqual(expected, proof);
    },
  };
}

export function secureRandomBytes(count: number): Uint8Array {
  return randomBytes(count);
}

/** Runs `node` over real sockets until `close()`. */
export class NodeTransport {
  readonly #node: DrivenNode;
  readonly #options: TransportOptions;
  readonly #sockets = new Map<number, net.Socket>();
  #server: net.Server | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAtMs = Number.POSITIVE_INFINITY;
  #nextConnectionId = 1;
  #closed = false;
  #drainScheduled = false;
  #beforeDrain: (() => void) | undefined = undefined;
  readonly #tlsContext: { cert: Buffer; key: Buffer; ca: Buffer } | undefined;

  constructor(node: DrivenNode, options: TransportOptions) {
    this.#node = node;
    this.#options = options;
    this.#tlsContext = options.tls === undefined ? undefined : { cert: readFileSync(options.tls.certPath), key: readFileSync(options.tls.keyPath), ca: readFileSync(options.tls.caPath) };
  }

  /** Starts listening (if configured); resolves with the bound address. */
  async start(): Promise<Address | undefined> {
    const listen = this.#options.listen;
    let bound: Address | undefined;
    if (listen !== undefined) {
      const onSocket = (socket: net.Socket): void => {
        this.#adopt(socket, 'accepted');
        this.#drain();
      };
      const server = this.#tlsContext
        ? tls.createServer({ ...this.#tlsContext, requestCert: true, rejectUnauthorized: true }, onSocket)
        : net.createServer(onSocket);
      server.on('tlsClientError', (error: Error) => this.#options.logger.warn({ problem: error.message }, 'TLS handshake failed'));
      this.#server = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(listen.port, listen.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (error) => this.#options.logger.error({ problem: error.message }, 'listener error'));
      const address = server.address() as net.AddressInfo;
      bound = { host: address.address, port: address.port };
    }
    this.#drain();
    return bound;
  }

  /** Stops listening, closes every socket and the timer. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const socket of this.#sockets.values()) socket.destroy();
    this.#sockets.clear();
    const server = this.#server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Calls `hook` first thing in every drain, before the node's output is
   * taken: what the process writes there leaves in this turn's frames
   * (LocalNode.runBeforeSend: the idempotency records gathered in a turn).
   */
  beforeDrain(hook: () => void): void {
    this.#beforeDrain = hook;
  }

  /** The node took input from this process (a local write): carry out its output at the end of this turn. */
  wake(): void {
    if (!this.#closed) this.#scheduleDrain();
  }

  #adopt(socket: net.Socket, how: 'accepted' | 'dialed'): number {
    const id = this.#nextConnectionId++;
    this.#sockets.set(id, socket);
    socket.setNoDelay(true);
    if (how === 'accepted') this.#node.handleConnect(id, monotonicNowMs());
    else this.#node.handleDialed!(id, monotonicNowMs());
    socket.on('data', (chunk: Buffer) => {
      this.#node.handleBytes(id, chunk, monotonicNowMs());
      // A large read already fills a frame: send now, so the next hop starts at once.
      // Small reads wait for the end of the turn, to share a frame with other connections' reads.
      if (chunk.length >= DRAIN_NOW_BYTES) this.#drain();
      else this.#scheduleDrain();
    });
    socket.on('error', (error) => this.#options.logger.debug({ connection: id, problem: error.message }, 'socket error'));
    socket.on('close', () => {
      if (this.#sockets.get(id) !== socket) return;
      this.#sockets.delete(id);
      this.#node.handleDisconnect(id, monotonicNowMs());
      this.#drain();
    });
    socket.on('drain', () => socket.resume());
    return id;
  }

  #dial(): void {
    const to = this.#options.dialTo;
    if (to === undefined || this.#node.handleDialed === undefined) return;
    const socket = this.#tlsContext
      ? tls.connect({ host: to.host, port: to.port, ...this.#tlsContext, servername: to.host, checkServerIdentity: () => undefined })
      : net.connect({ host: to.host, port: to.port });
    const connectEvent = this.#tlsContext ? 'secureConnect' : 'connect';
    const onEarlyError = (error: Error): void => {
      socket.destroy();
      this.#node.handleDialFailed?.(error.message, monotonicNowMs());
      this.#drain();
    };
    socket.once('error', onEarlyError);
    socket.once(connectEvent, () => {
      socket.off('error', onEarlyError);
      this.#adopt(socket, 'dialed');
      this.#drain();
    });
  }

  /**
   * Drains once after every socket that was readable in this turn of the event
   * loop has been read: all requests read together then leave together (one
   * replicate frame to the secondary, one write per client), which is what
   * keeps the syscalls per update low.
   */
  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    setImmediate(() => {
      this.#drainScheduled = false;
      this.#drain();
    });
  }

  /** Carries out everything the node asked for, logs its events, re-arms the timer. */
  #drain(): void {
    if (this.#closed) return;
    this.#beforeDrain?.();
    // No cork: the node hands out one buffer per connection per drain (all its frames, NodeBase.send),
    // so each socket gets one write, and cork / uncork only added a writev and its arrays.
    for (let out = this.#node.pollTransmit(); out !== undefined; out = this.#node.pollTransmit()) {
      if (out.kind === 'dial') {
        this.#dial();
        continue;
      }
      const socket = this.#sockets.get(out.connectionId);
      if (socket === undefined) continue;
      if (out.kind === 'send') {
        socket.write(out.bytes);
        const max = this.#options.socketWriteBufferMax ?? 16 * 1024 * 1024;
        if (socket.writableLength > max) socket.pause();
      } else {
        this.#sockets.delete(out.connectionId);
        socket.end();
        socket.destroySoon();
      }
    }
    for (let event = this.#node.pollEvent(); event !== undefined; event = this.#node.pollEvent()) {
      this.#options.logger[event.level](event.fields ?? {}, event.message);
    }
    this.#arm();
  }

  /**
   * Keeps a timer for the node's next deadline. A timer already set for an earlier
   * (or the same) time is kept: deadlines move later with every frame sent or
   * heard (the heartbeat, the link timeout), and re-setting a timer per frame
   * cost a few percent of a busy node. Firing early is harmless: the node checks
   * each deadline against the time it is given, and the timer is set again.
   */
  #arm(): void {
    const at = this.#node.pollTimeoutMs();
    if (this.#timer !== undefined && this.#timerAtMs <= at) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAtMs = at;
    if (!Number.isFinite(at)) return;
    const delay = Math.max(0, Math.ceil(at - monotonicNowMs()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAtMs = Number.POSITIVE_INFINITY;
      // Timers run before I/O in a turn of the event loop: after a long turn, bytes that
      // arrived meanwhile must be read before deciding that a peer went silent.
      setImmediate(() => {
        if (this.#closed) return;
        this.#node.handleTimeout(monotonicNowMs());
        this.#drain();
      });
    }, delay);
  }
}
