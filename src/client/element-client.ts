/** A Node client for the element API (the binary protocol's `update`, `get`
 *  and `check_request`): what media engines, gateways, benchmarks and
 *  `confstate check` use. Requests are pipelined; each has one pending promise. */

import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Timestamp } from '../core/clock.ts';
import type { JsonValue } from '../core/value.ts';
import { plainValue } from '../core/json-text.ts';
import { DialerHandshake } from '../replication/handshake.ts';
import { FrameDecoder, type Message, appendFrame, decodeBody, encodeFrame } from '../replication/messages.ts';
import { hmacAuthenticator, secureRandomBytes, type TlsFiles } from '../replication/node-transport.ts';
import { DecodeError, WireWriter } from '../replication/wire.ts';

export interface ElementClientOptions {
  readonly host: string;
  readonly port: number;
  readonly secret: Uint8Array;
  readonly tls?: TlsFiles;
  /** Node id this client would stamp its own timestamps with (0..15). */
  readonly nodeId?: number;
  readonly frameBytesMax?: number;
  /** TCP (or TLS) connect and handshake together (default 5000). */
  readonly connectTimeoutMs?: number;
}

const CONNECT_TIMEOUT_MS_DEFAULT = 5000;

/** The answer to an update: `applied` (ts = the element's new ts), `stale` (ts = its current ts), or an error code with detail. */
export interface UpdateResult {
  readonly code: string;
  readonly ts: Timestamp;
  readonly detail: string;
}

export interface GetResult {
  readonly found: boolean;
  readonly ts: Timestamp;
  readonly deleted: boolean;
  readonly value: JsonValue;
}

export interface CheckResult {
  readonly inSync: boolean;
  readonly repaired: number;
  readonly differences: readonly { readonly key: string; readonly primaryTs: Timestamp; readonly secondaryTs: Timestamp }[];
}

type Pending = { resolve: (message: Message) => void; reject: (error: Error) => void };

/** Who answered the handshake: the server's role and epoch when this connection opened. */
export interface ServerIdentity {
  readonly role: 'primary' | 'secondary' | 'client';
  readonly nodeId: number;
  readonly epoch: number;
}

export class ElementClient {
  /** The server as its welcome described it; a role change closes the connection, so it holds for the connection's life. */
  readonly server: ServerIdentity;
  /** Resolves with the reason once the connection is gone (closed by either side or failed). */
  readonly closed: Promise<Error>;
  readonly #socket: net.Socket;
  readonly #decoder: FrameDecoder;
  readonly #pending = new Map<number, Pending>();
  #nextRequestId = 1;
  #closedError: Error | undefined;
  #batch: WireWriter | undefined;
  #onClosed: (error: Error) => void = () => undefined;

  private constructor(socket: net.Socket, decoder: FrameDecoder, server: ServerIdentity) {
    this.#socket = socket;
    this.#decoder = decoder;
    this.server = server;
    this.closed = new Promise((resolve) => (this.#onClosed = resolve));
  }

  /** Requests sent and not yet answered. */
  get outstanding(): number {
    return this.#pending.size;
  }

  /** Connects and authenticates within connectTimeoutMs; rejects with the server's reason when refused. */
  static async connect(options: ElementClientOptions): Promise<ElementClient> {
    const startedMs = performance.now();
    const socket = await openSocket(options);
    socket.setNoDelay(true);
    // A server that accepts and then says nothing (a hung process, a blackhole) must not hold the caller for ever.
    const handshakeTimeoutMs = Math.max(1, (options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT) - (performance.now() - startedMs));
    const decoder = new FrameDecoder(options.frameBytesMax ?? 4 * 1024 * 1024);
    const handshake = new DialerHandshake({ role: 'client', nodeId: options.nodeId ?? 15, epoch: 0 }, hmacAuthenticator(options.secret), secureRandomBytes(32));
    socket.write(encodeFrame(handshake.start()));
    const server = await new Promise<ServerIdentity>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`handshake with ${options.host}:${options.port} timed out after ${handshakeTimeoutMs} ms`)), handshakeTimeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      const onData = (chunk: Buffer): void => {
        const bodies = decoder.push(chunk);
        if (bodies instanceof DecodeError) return fail(bodies);
        for (const body of bodies) {
          let message: Message;
          try {
            message = decodeBody(body);
          } catch (error) {
            return fail(error as Error);
          }
          const outcome = handshake.handle(message);
          for (const reply of outcome.send) socket.write(encodeFrame(reply));
          if (outcome.kind === 'refused') return fail(new Error(`refused (${outcome.code}): ${outcome.reason}`));
          if (outcome.kind === 'open') {
            clearTimeout(timer);
            socket.off('data', onData);
            socket.off('close', onClose);
            return resolve(outcome.peer);
          }
        }
      };
      const onClose = (): void => fail(new Error('connection closed during the handshake'));
      socket.on('data', onData);
      socket.on('close', onClose);
      socket.on('error', () => undefined);
    });
    const client = new ElementClient(socket, decoder, server);
    client.#listen();
    return client;
  }

  /** Writes `value` to `key` (or deletes it). Without `ts` the primary assigns one. */
  async update(key: string, value: JsonValue, options: { ts?: Timestamp; deleted?: boolean } = {}): Promise<UpdateResult> {
    const reply = await this.#request((requestId) => ({ type: 'update', requestId, key, ts: options.ts ?? 0, deleted: options.deleted ?? false, value: options.deleted ? null : value }));
    if (reply.type !== 'result') throw new Error(`expected result, got ${reply.type}`);
    return { code: reply.code, ts: reply.ts, detail: reply.detail };
  }

  async get(key: string): Promise<GetResult> {
    const reply = await this.#request((requestId) => ({ type: 'get', requestId, key }));
    if (reply.type !== 'value') throw new Error(`expected value, got ${reply.type}`);
    return { found: reply.found, ts: reply.ts, deleted: reply.deleted, value: plainValue(reply.value) };
  }

  /** Asks the primary to compare its store with the secondary's (and repair). */
  async check(repair: boolean): Promise<CheckResult | UpdateResult> {
    const reply = await this.#request((requestId) => ({ type: 'check_request', requestId, repair }));
    if (reply.type === 'check_result') return { inSync: reply.inSync, repaired: reply.repaired, differences: reply.differences };
    if (reply.type === 'result') return { code: reply.code, ts: reply.ts, detail: reply.detail };
    throw new Error(`expected check_result, got ${reply.type}`);
  }

  /** Test hook: sets an element on a secondary started with --test-hooks only. */
  async testCorrupt(key: string, ts: Timestamp, value: JsonValue): Promise<UpdateResult> {
    const reply = await this.#request((requestId) => ({ type: 'test_corrupt', requestId, key, ts, value }));
    if (reply.type !== 'result') throw new Error(`expected result, got ${reply.type}`);
    return { code: reply.code, ts: reply.ts, detail: reply.detail };
  }

  close(): void {
    this.#socket.end();
    this.#socket.destroySoon();
  }

  #request(build: (requestId: number) => Message): Promise<Message> {
    if (this.#closedError !== undefined) return Promise.reject(this.#closedError);
    const requestId = this.#nextRequestId;
    this.#nextRequestId = (this.#nextRequestId % 0xffffffff) + 1;
    return new Promise((resolve, reject) => {
      this.#pending.set(requestId, { resolve, reject });
      // Requests made in the same tick share one buffer and one write (auto-pipelining).
      if (this.#batch === undefined) {
        const batch = (this.#batch = new WireWriter(4096));
        process.nextTick(() => {
          this.#batch = undefined;
          if (this.#closedError === undefined) this.#socket.write(batch.finish());
        });
      }
      appendFrame(build(requestId), this.#batch);
    });
  }

  #listen(): void {
    this.#socket.on('data', (chunk: Buffer) => {
      const bodies = this.#decoder.push(chunk);
      if (bodies instanceof DecodeError) return this.#fail(bodies);
      for (const body of bodies) {
        let message: Message;
        try {
          message = decodeBody(body);
        } catch (error) {
          return this.#fail(error as Error);
        }
        if (!('requestId' in message)) continue;
        const pending = this.#pending.get(message.requestId);
        if (pending === undefined) continue;
        this.#pending.delete(message.requestId);
        pending.resolve(message);
      }
    });
    this.#socket.on('close', () => this.#fail(new Error('connection closed')));
    this.#socket.on('error', (error) => this.#fail(error));
  }

  #fail(error: Error): void {
    if (this.#closedError === undefined) {
      this.#closedError = error;
      this.#onClosed(error);
    }
    for (const pending of this.#pending.values()) pending.reject(this.#closedError);
    this.#pending.clear();
    this.#socket.destroy();
  }
}

function openSocket(options: ElementClientOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const files = options.tls;
    const socket = files
      ? tls.connect({ host: options.host, port: options.port, cert: readFileSync(files.certPath), key: readFileSync(files.keyPath), ca: readFileSync(files.caPath), checkServerIdentity: () => undefined })
      : net.connect({ host: options.host, port: options.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to ${options.host}:${options.port} timed out`));
    }, options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT);
    socket.once(files ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
