/** The floor of `npm run bench -- api`: a bare WebSocket server, forked by
 *  bench/api.ts into its own process, that does only the transport work the
 *  conference API cannot avoid — read a JSON command, answer a `result` to its
 *  sender and a `delta` of one change to every follower of its session, with
 *  the same `ws` library and the same per-turn write batching as confstate —
 *  and nothing else: no tokens, schemas, planner, store, replication or dedupe.
 *  Driven by the same load generator, it says what this machine allows at all,
 *  so confstate's figure can be read as a share of it. Not a server: it trusts
 *  everything it is sent. */

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { WriteBatcher } from '../src/server/write-batch.ts';

interface Follower {
  readonly socket: WebSocket;
  readonly cork: { cork(): void; uncork(): void };
}

const sessions = new Map<string, { seq: number; followers: Set<Follower> }>();
const batcher = new WriteBatcher();
let ts = Date.now() * 1000;

function send(follower: Follower, text: string): void {
  batcher.hold(follower.cork);
  follower.socket.send(text);
}

const http = createServer((request, response) => {
  // POST /v1/sessions: the generator creates its sessions first.
  request.resume();
  request.on('end', () => {
    response.writeHead(request.method === 'POST' ? 201 : 404, { 'content-type': 'application/json' });
    response.end('{}');
  });
});
const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
http.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => {
    const follower: Follower = { socket: ws, cork: socket };
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; id?: string; session?: string; command?: { type: string; participant?: string } };
      switch (message.type) {
        case 'hello':
          send(follower, JSON.stringify({ type: 'welcome', participant: 'p', session: '*', role: 'participant', service: false, node: {} }));
          return;
        case 'subscribe': {
          const session = message.session!;
          let state = sessions.get(session);
          if (state === undefined) sessions.set(session, (state = { seq: 0, followers: new Set() }));
          state.followers.add(follower);
          ws.once('close', () => state.followers.delete(follower));
          send(follower, JSON.stringify({ type: 'snapshot', session, stream: 'floor', seq: state.seq, elements: [], resumed: false, reason: null }));
          return;
        }
        case 'command': {
          const session = message.session!;
          const state = sessions.get(session);
          if (state !== undefined) {
            // One change about the size of a track or hand element, as the planner writes it.
            const change = { key: `s/${session}/track/${message.command?.participant ?? 'p'}/audio`, ts: ++ts, value: { published: true, muted: message.command?.type === 'mute', mutedBy: null } };
            const delta = JSON.stringify({ type: 'delta', session, seq: ++state.seq, changes: [change] });
            for (const other of state.followers) send(other, delta);
          }
          send(follower, JSON.stringify({ type: 'result', id: message.id, ok: true, duplicate: false }));
          return;
        }
        default:
          return;
      }
    });
  });
});
http.listen(0, '127.0.0.1', () => process.send!({ port: (http.address() as AddressInfo).port }));
process.on('disconnect', () => process.exit(0));
