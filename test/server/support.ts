/** Shared by the server tests: a config with test secrets, token minting, an
 *  app over a MemoryStateNode, and a WebSocket client that queues what it
 *  receives. Everything listens on 127.0.0.1 only, on ephemeral ports. */

import { afterEach } from 'vitest';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import type { NodeInfo, ServerMessage } from '../../src/conference/api.ts';
import type { Role } from '../../src/conference/model.ts';
import { type BuiltServer, buildServer, type StartedServer, startServer } from '../../src/server/app.ts';
import { type ServerConfigInput, type ServerLimits, serverConfig } from '../../src/server/config.ts';
import type { DemoOptions } from '../../src/server/demo.ts';
import { MemoryStateNode } from '../../src/server/state-node.ts';

export const SECRET = 'test-secret-0123456789-abcdefghijklmnop';
export const ADMIN = 'admin-secret-0123456789-abcdefghijklmnop';
export const ADMIN_HEADERS = { authorization: `Bearer ${ADMIN}` };

export interface TokenClaims {
  readonly sub: string;
  readonly session: string;
  readonly role?: Role;
  /** Seconds from now; negative = expired. */
  readonly expiresInS?: number;
}

/** An HS256 token signed with SECRET (or `secret`). */
export async function token(claims: TokenClaims, secret = SECRET): Promise<string> {
  const nowS = Math.floor(Date.now() / 1000);
  return new SignJWT({ session: claims.session, role: claims.role ?? 'participant' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + (claims.expiresInS ?? 3600))
    .sign(new TextEncoder().encode(secret));
}

export function bearer(value: string): { authorization: string } {
  return { authorization: `Bearer ${value}` };
}

export function testConfig(limits: Partial<ServerLimits> = {}, extra: Omit<ServerConfigInput, 'limits'> = {}) {
  return serverConfig({ auth: { hs256Secret: SECRET, adminSecret: ADMIN, ...extra.auth }, limits, ...(extra.metricsAccess ? { metricsAccess: extra.metricsAccess } : {}), ...(extra.tls ? { tls: extra.tls } : {}) });
}

export interface TestServerOptions {
  readonly node?: MemoryStateNode;
  readonly limits?: Partial<ServerLimits>;
  readonly demo?: DemoOptions;
  readonly info?: NodeInfo;
}

/** An app over a fresh MemoryStateNode (a primary with no secondary), not listening. */
export function testServer(options: TestServerOptions = {}): BuiltServer & { node: MemoryStateNode } {
  const node = options.node ?? new MemoryStateNode(options.info);
  const built = buildServer({ node, config: testConfig(options.limits), ...(options.demo ? { demo: options.demo } : {}) });
  return { ...built, node };
}

/** The same, listening on 127.0.0.1 at an ephemeral port. */
export async function listeningServer(options: TestServerOptions = {}): Promise<StartedServer & { node: MemoryStateNode }> {
  const node = options.node ?? new MemoryStateNode(options.info);
  const started = await startServer({ node, config: testConfig(options.limits), listen: { host: '127.0.0.1', port: 0 }, ...(options.demo ? { demo: options.demo } : {}) });
  return { ...started, node };
}

/**
 * For a test file: `server()` starts a listening server, and every server and
 * client pushed to `clients` is closed after each test.
 */
export function listeningFixture(): { server: typeof listeningServer; clients: TestClient[] } {
  let close: (() => Promise<void>) | undefined;
  const clients: TestClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close();
    await close?.();
    close = undefined;
  });
  const server = async (options: TestServerOptions = {}): ReturnType<typeof listeningServer> => {
    const started = await listeningServer(options);
    close = started.close;
    return started;
  };
  return { server, clients };
}

/** Creates a session through REST as the admin; throws unless it worked. */
export async function createSession(server: BuiltServer, id: string, settings: Record<string, unknown> = { lobby: false }): Promise<void> {
  const response = await server.app.inject({ method: 'POST', url: '/v1/sessions', headers: ADMIN_HEADERS, payload: { id, settings } });
  if (response.statusCode !== 201) throw new Error(`create ${id}: ${response.statusCode} ${response.body}`);
}

type Message = ServerMessage;

/** A WebSocket client that queues every message and lets a test wait for the next matching one. */
export class TestClient {
  readonly received: Message[] = [];
  readonly #waiters: { predicate: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  #cursor = 0;
  closeCode: number | undefined;
  readonly closed: Promise<number>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as Message;
      this.received.push(message);
      const index = this.#waiters.findIndex((w) => w.predicate(message));
      if (index !== -1) this.#waiters.splice(index, 1)[0]!.resolve(message);
    });
    this.closed = new Promise((resolve) => socket.on('close', (code) => resolve((this.closeCode = code))));
  }

  static async connect(url: string, options: { rejectUnauthorized?: boolean; ca?: string } = {}): Promise<TestClient> {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`, options);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new TestClient(socket);
  }

  /** Connects, says hello and waits for welcome. */
  static async welcomed(url: string, tokenText: string): Promise<TestClient> {
    const client = await TestClient.connect(url);
    client.send({ type: 'hello', token: tokenText, protocol: 1 });
    await client.next((m) => m.type === 'welcome');
    return client;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The next message (from where the last `next` stopped) that matches, waiting up to `timeoutMs`. */
  async next<T extends Message['type']>(predicate: (m: Message) => boolean, timeoutMs = 3000): Promise<Message & { type: T }> {
    for (; this.#cursor < this.received.length; this.#cursor++) {
      const message = this.received[this.#cursor]!;
      if (predicate(message)) {
        this.#cursor++;
        return message as Message & { type: T };
      }
    }
    const message = await new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message within ${timeoutMs} ms; received ${JSON.stringify(this.received.slice(-5))}`)), timeoutMs);
      this.#waiters.push({ predicate, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
    this.#cursor = this.received.indexOf(message) + 1;
    return message as Message & { type: T };
  }

  /** Sends a command and waits for its result. */
  async command(session: string, id: string, command: unknown): Promise<Extract<Message, { type: 'result' }>> {
    this.send({ type: 'command', id, session, command });
    return (await this.next((m) => m.type === 'result' && m.id === id)) as Extract<Message, { type: 'result' }>;
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close();
    await this.closed;
  }
}

/** Waits until `condition` holds, polling. */
export async function eventually(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
