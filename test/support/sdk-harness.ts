/** Helpers for SDK tests over real sockets: clients with fast retry settings
 *  that are closed after each test, polling until a condition holds, and the
 *  comparison of a client's mirror with the state the fake cluster holds. */

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import type { ElementState, Role } from '../../src/conference/model.ts';
import { SessionMirror } from '../../src/conference/mirror.ts';
import { ConferenceClient, type ConferenceClientOptions } from '../../src/client/conference-client.ts';
import type { FakeCluster, FakeConference } from './fake-conference-server.ts';

const open: ConferenceClient[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

/** A client of `urls` with the given token and quick retries (seeded), closed by `closeAll`. */
export function testClient(urls: readonly string[], token: string | (() => Promise<string>), options: Partial<ConferenceClientOptions> = {}): ConferenceClient {
  const client = new ConferenceClient({ urls, token, WebSocket, backoffMsInitial: 10, backoffMsMax: 100, randomSeed: 1, connectTimeoutMs: 2_000, ...options });
  open.push(client);
  return client;
}

/** A host client of session `standup` on the cluster (primary first). */
export function hostClient(cluster: FakeCluster, options: Partial<ConferenceClientOptions> = {}, participant = 'ada', role: Role = 'host'): ConferenceClient {
  const token = cluster.conference.issueToken({ participant, session: 'standup', role });
  return testClient([cluster.primary.url, cluster.secondary.url], token, options);
}

/** Runs `cleanup` in `closeAll` (servers to stop). */
export function afterTest(cleanup: () => Promise<void> | void): void {
  cleanups.push(cleanup);
}

/** Closes every client made since the last call and runs the cleanups. */
export async function closeAll(): Promise<void> {
  for (const client of open.splice(0)) client.close();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/** Resolves once `condition` holds, polling every 2 ms; rejects after `timeoutMs` naming `what`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Elements sorted by key: the form two states are compared in. */
export function sorted(elements: readonly ElementState[]): ElementState[] {
  return [...elements].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** True when the mirror holds exactly the session's live elements at the cluster's timestamps. */
export function mirrorsServer(mirror: SessionMirror, conference: FakeConference, session: string): boolean {
  return JSON.stringify(sorted(mirror.elements())) === JSON.stringify(sorted(conference.sessionElements(session)));
}

/** The view a fresh mirror of the cluster's state derives: what a client's view must equal. */
export function serverView(conference: FakeConference, session: string): ReturnType<SessionMirror['view']> {
  const mirror = new SessionMirror(session);
  mirror.load(conference.sessionElements(session));
  return mirror.view();
}

/** A 127.0.0.1 port nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A 127.0.0.1 TCP server that accepts connections and never answers (a WebSocket upgrade hangs). */
export async function blackHole(): Promise<{ readonly url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/v1/ws`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
