/** The server over TLS (HTTPS and WSS with a configured certificate), the
 *  demo token issuer (present only when asked for, first joiner is host), and
 *  fresh streams after the node's epoch changes. */

import { mkdtempSync, readFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { buildServer, startServer } from '../../src/server/app.ts';
import { serverConfig } from '../../src/server/config.ts';
import type { NodeInfo } from '../../src/conference/api.ts';
import { MemoryStateNode } from '../../src/server/state-node.ts';
import { makeTlsFiles } from '../support/processes.ts';
import { ADMIN, SECRET, TestClient, bearer, createSession, eventually, listeningServer, testConfig, testServer, token } from './support.ts';

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers) await close();
  closers = [];
});

describe('tls', () => {
  it('tls: with a certificate and key the server speaks HTTPS and WSS', async () => {
    const files = makeTlsFiles(mkdtempSync(join(tmpdir(), 'confstate-tls-')));
    const tls = { certPem: readFileSync(files.certPath, 'utf8'), keyPem: readFileSync(files.keyPath, 'utf8') };
    const ca = readFileSync(files.caPath, 'utf8');
    const started = await startServer({ node: new MemoryStateNode(), config: testConfig({}, { tls }), listen: { host: '127.0.0.1', port: 0 } });
    closers.push(started.close);
    expect(started.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // The test certificate names 127.0.0.1 in its CN only; the chain is still verified against the CA.
    const tlsOptions = { ca, checkServerIdentity: () => undefined };
    const health = await new Promise<string>((resolve, reject) => {
      get(`${started.url}/healthz`, tlsOptions, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve(body));
      }).on('error', reject);
    });
    expect(JSON.parse(health)).toMatchObject({ status: 'ok' });
    // @types/ws types checkServerIdentity as returning boolean; Node wants undefined for "matches".
    const socket = new WebSocket(`${started.url.replace('https', 'wss')}/v1/ws`, { ca, checkServerIdentity: tlsOptions.checkServerIdentity as unknown as () => boolean });
    const welcome = await new Promise<unknown>((resolve, reject) => {
      socket.on('open', async () => socket.send(JSON.stringify({ type: 'hello', token: await token({ sub: 'a', session: 's1' }), protocol: 1 })));
      socket.on('message', (data) => resolve(JSON.parse(String(data))));
      socket.on('error', reject);
    });
    expect(welcome).toMatchObject({ type: 'welcome', participant: 'a' });
    socket.close();
  });
});

describe('demo', () => {
  it('demo: without demo options there is no token issuer', async () => {
    const built = testServer();
    closers.push(built.close);
    const response = await built.app.inject({ method: 'POST', url: '/v1/demo/join', payload: { session: 'x', name: 'Ann' } });
    expect([response.statusCode, response.json().error.code]).toEqual([404, 'route_not_found']);
  });

  it('demo: the first joiner of a new session is host, later ones participants; tokens are labelled demo-only and work', async () => {
    const built = testServer({ demo: {} });
    closers.push(built.close);
    const join = async (name: string) => (await built.app.inject({ method: 'POST', url: '/v1/demo/join', payload: { session: 'party', name } })).json();
    const first = await join('Ann');
    const second = await join('Ben');
    expect(first).toMatchObject({ session: 'party', role: 'host', name: 'Ann', demo: true, notice: expect.stringContaining('DEMO') });
    expect(second).toMatchObject({ role: 'participant', demo: true });
    expect(first.participant).not.toBe(second.participant);
    const create = await built.app.inject({ method: 'POST', url: '/v1/sessions', headers: bearer(first.token), payload: { title: 'Party' } });
    expect(create.statusCode).toBe(201);
    const late = await join('Cy');
    expect(late.role).toBe('participant');
    const joined = await built.app.inject({ method: 'POST', url: '/v1/sessions/party/commands', headers: bearer(second.token), payload: { id: 'j', command: { type: 'join', name: 'Ben' } } });
    expect(joined.statusCode).toBe(200);
  });

  it('demo: an unknown field in the demo body is refused', async () => {
    const built = testServer({ demo: {} });
    closers.push(built.close);
    const response = await built.app.inject({ method: 'POST', url: '/v1/demo/join', payload: { session: 'x', name: 'Ann', role: 'host' } });
    expect([response.statusCode, response.json().error.message]).toEqual([400, 'body/role: unknown field (not in the schema)']);
  });
});

describe('epoch', () => {
  it('epoch: when the node moves to a new epoch every subscriber gets a fresh snapshot on a new stream, flagged with the reason', async () => {
    const node = new MemoryStateNode();
    const started = await listeningServer({ node });
    closers.push(started.close);
    await createSession(started, 's1');
    const client = await TestClient.welcomed(started.url, await token({ sub: 'a', session: 's1' }));
    closers.push(() => client.close());
    client.send({ type: 'subscribe', session: 's1' });
    const first = await client.next<'snapshot'>((m) => m.type === 'snapshot');
    (node as { info: { epoch: number } }).info = { ...node.info, epoch: 2 };
    started.hub.checkEpoch();
    const fresh = await client.next<'snapshot'>((m) => m.type === 'snapshot');
    expect(fresh.stream).not.toBe(first.stream);
    expect(fresh.stream).toContain('-e2-');
    expect(fresh.reason).toContain('epoch 2');
  });
});

describe('node changes', () => {
  it('node: a welcomed client is told once per change when its node changes role, epoch or known primary, before the fresh snapshots of a new epoch', async () => {
    const node = new MemoryStateNode();
    const config = serverConfig({ auth: { hs256Secret: SECRET, adminSecret: ADMIN }, epochCheckIntervalMs: 20 });
    const started = await startServer({ node, config, listen: { host: '127.0.0.1', port: 0 } });
    closers.push(started.close);
    await createSession(started, 's1');
    const client = await TestClient.welcomed(started.url, await token({ sub: 'a', session: 's1' }));
    closers.push(() => client.close());
    client.send({ type: 'subscribe', session: 's1' });
    await client.next<'snapshot'>((m) => m.type === 'snapshot');
    const told = (): unknown[] => client.received.filter((m) => m.type === 'node').map((m) => (m as { node: unknown }).node);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(told()).toEqual([]); // nothing changed: nothing said
    (node as { info: NodeInfo }).info = { ...node.info, role: 'secondary', primaryUrl: 'http://127.0.0.1:1' };
    await eventually(() => told().length === 1, 2000);
    (node as { info: NodeInfo }).info = { ...node.info, role: 'primary', epoch: 2, primaryUrl: null };
    await eventually(() => told().length === 2, 2000);
    const fresh = await client.next<'snapshot'>((m) => m.type === 'snapshot' && m.reason !== null);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(told()).toEqual([
      { nodeId: node.info.nodeId, role: 'secondary', epoch: 1, primaryUrl: 'http://127.0.0.1:1' },
      { nodeId: node.info.nodeId, role: 'primary', epoch: 2, primaryUrl: null },
    ]);
    // The new role first, then the snapshot on the new epoch's stream.
    expect(client.received.findIndex((m) => m.type === 'node' && (m as { node: NodeInfo }).node.epoch === 2)).toBeLessThan(client.received.indexOf(fresh));
  });
});

describe('presence after a failover', () => {
  it('presence: a node that becomes primary marks members with no connection to it reconnecting, then left after the grace', async () => {
    const node = new MemoryStateNode();
    const config = serverConfig({ auth: { hs256Secret: SECRET, adminSecret: ADMIN }, limits: { presenceGraceMs: 150 }, epochCheckIntervalMs: 20 });
    const built = buildServer({ node, config });
    closers.push(built.close);
    await createSession(built, 's1');
    const alice = await token({ sub: 'alice', session: 's1' });
    const joined = await built.app.inject({ method: 'POST', url: '/v1/sessions/s1/commands', headers: bearer(alice), payload: { id: 'j1', command: { type: 'join', name: 'Alice' } } });
    expect(joined.statusCode).toBe(200);
    const presence = (): string | undefined => built.commands.view('s1')?.participants.find((p) => p.id === 'alice')?.presence;
    expect(presence()).toBe('joined');
    // The node was secondary for a while (its old primary held alice's connection), then promoted.
    (node as { info: NodeInfo }).info = { ...node.info, role: 'secondary' };
    await new Promise((resolve) => setTimeout(resolve, 60));
    (node as { info: NodeInfo }).info = { ...node.info, role: 'primary', epoch: 2 };
    await eventually(() => presence() === 'reconnecting', 2000);
    await eventually(() => presence() === 'left', 2000);
  });
});
