/** REST under /v1 through fastify inject (no port): create, read, snapshot,
 *  commands, end, the admin list, idempotent retries, limits, the error
 *  bodies, a secondary answering reads and refusing writes, and the OpenAPI
 *  document covering every route. */

import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { MemoryStateNode } from '../../src/server/state-node.ts';
import { ERRORS } from '../../src/server/errors.ts';
import { ADMIN_HEADERS, bearer, createSession, testServer, token } from './support.ts';

let close: (() => Promise<void>) | undefined;
afterEach(async () => close?.());

function server(options: Parameters<typeof testServer>[0] = {}) {
  const built = testServer(options);
  close = built.close;
  return built;
}

async function command(app: FastifyInstance, session: string, tokenText: string, id: string, body: unknown) {
  return app.inject({ method: 'POST', url: `/v1/sessions/${session}/commands`, headers: bearer(tokenText), payload: { id, command: body } });
}

describe('rest: sessions', () => {
  it('rest: the admin creates a session, a member reads it, joins and sees itself in the view', async () => {
    const { app } = server();
    const created = await app.inject({ method: 'POST', url: '/v1/sessions', headers: ADMIN_HEADERS, payload: { id: 'standup', title: 'Daily standup', settings: { lobby: false } } });
    expect(created.statusCode).toBe(201);
    expect(created.headers.location).toBe('/v1/sessions/standup');
    expect(created.json()).toMatchObject({ ok: true, duplicate: false, session: { id: 'standup', title: 'Daily standup', organizer: 'admin', phase: 'open' } });
    const alice = await token({ sub: 'alice', session: 'standup' });
    expect((await command(app, 'standup', alice, 'j1', { type: 'join', name: 'Alice' })).json()).toMatchObject({ ok: true });
    const view = (await app.inject({ method: 'GET', url: '/v1/sessions/standup', headers: bearer(alice) })).json();
    expect(view.participants).toMatchObject([{ id: 'alice', name: 'Alice', presence: 'joined', role: 'participant' }]);
  });

  it('rest: without an id the server generates one; a host token creates only its own session', async () => {
    const { app } = server();
    const generated = await app.inject({ method: 'POST', url: '/v1/sessions', headers: ADMIN_HEADERS, payload: {} });
    expect(generated.statusCode).toBe(201);
    expect(generated.json().session.id).toMatch(/^s-[A-Za-z0-9_-]{16}$/);
    const host = await token({ sub: 'hana', session: 'mine', role: 'host' });
    const own = await app.inject({ method: 'POST', url: '/v1/sessions', headers: bearer(host), payload: { title: 'Mine' } });
    expect([own.statusCode, own.json().session.id, own.json().session.organizer]).toEqual([201, 'mine', 'hana']);
    const other = await app.inject({ method: 'POST', url: '/v1/sessions', headers: bearer(host), payload: { id: 'theirs' } });
    expect([other.statusCode, other.json().error.code]).toEqual([403, 'wrong_session']);
    const participant = await token({ sub: 'pat', session: 'p-only', role: 'participant' });
    const refused = await app.inject({ method: 'POST', url: '/v1/sessions', headers: bearer(participant), payload: {} });
    expect([refused.statusCode, refused.json().error.code]).toEqual([403, 'forbidden']);
    const again = await app.inject({ method: 'POST', url: '/v1/sessions', headers: ADMIN_HEADERS, payload: { id: 'mine' } });
    expect([again.statusCode, again.json().error.code]).toEqual([409, 'already_exists']);
  });

  it('rest: a service token creates sessions anywhere and sets the media engine', async () => {
    const { app } = server();
    const sfu = await token({ sub: 'sfu-1', session: '*', role: 'host' });
    expect((await app.inject({ method: 'POST', url: '/v1/sessions', headers: bearer(sfu), payload: { id: 'room', engine: 'sfu-eu-1' } })).statusCode).toBe(201);
    expect((await command(app, 'room', sfu, 'e1', { type: 'set_engine', engine: 'sfu-eu-2' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/sessions/room', headers: bearer(sfu) })).json().engine).toBe('sfu-eu-2');
  });

  it('rest: the snapshot holds the elements with a stream position; an unknown session is 404', async () => {
    const built = server();
    await createSession(built, 's1');
    const member = await token({ sub: 'm', session: 's1' });
    const snapshot = (await built.app.inject({ method: 'GET', url: '/v1/sessions/s1/snapshot', headers: bearer(member) })).json();
    expect(snapshot).toMatchObject({ session: 's1', seq: 0, stream: expect.any(String) });
    expect(snapshot.elements.map((e: { key: string }) => e.key).sort()).toEqual(['s/s1/engine', 's/s1/meta', 's/s1/phase', 's/s1/recording', 's/s1/settings']);
    const missing = await built.app.inject({ method: 'GET', url: '/v1/sessions/nope/snapshot', headers: ADMIN_HEADERS });
    expect([missing.statusCode, missing.json().error.code]).toEqual([404, 'not_found']);
  });

  it('rest: end by a host; later commands are refused session_ended (410)', async () => {
    const built = server();
    await createSession(built, 's1');
    const host = await token({ sub: 'h', session: 's1', role: 'host' });
    await command(built.app, 's1', host, 'j', { type: 'join', name: 'H' });
    expect((await built.app.inject({ method: 'POST', url: '/v1/sessions/s1/end', headers: bearer(host) })).json()).toMatchObject({ ok: true, session: { phase: 'ended' } });
    const late = await command(built.app, 's1', host, 'r', { type: 'raise_hand' });
    expect([late.statusCode, late.json().error.code]).toEqual([410, 'session_ended']);
  });

  it('rest: a domain refusal comes back with its status and a message naming the values', async () => {
    const built = server();
    await createSession(built, 's1');
    const viewer = await token({ sub: 'v', session: 's1', role: 'viewer' });
    await command(built.app, 's1', viewer, 'j', { type: 'join', name: 'V' });
    const refused = await command(built.app, 's1', viewer, 'p', { type: 'publish_track', kind: 'video' });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toMatchObject({ code: 'forbidden', message: expect.stringContaining('"v"') });
  });

  it('rest: the admin lists sessions by id with present counts, in pages', async () => {
    const built = server({ limits: { adminListMax: 2 } });
    for (const id of ['c', 'a', 'b']) await createSession(built, id);
    await command(built.app, 'b', await token({ sub: 'x', session: 'b' }), 'j', { type: 'join', name: 'X' });
    const first = (await built.app.inject({ method: 'GET', url: '/v1/admin/sessions', headers: ADMIN_HEADERS })).json();
    expect(first.sessions.map((s: { id: string; present: number }) => [s.id, s.present])).toEqual([['a', 0], ['b', 1]]);
    expect(first.next).toBe('b');
    const second = (await built.app.inject({ method: 'GET', url: '/v1/admin/sessions?after=b&limit=5', headers: ADMIN_HEADERS })).json();
    expect([second.sessions.map((s: { id: string }) => s.id), second.next]).toEqual([['c'], null]);
  });
});

describe('rest: idempotency and limits', () => {
  it('rest: a retried command with the same id is applied once and answered duplicate: true', async () => {
    const built = server();
    await createSession(built, 's1');
    const alice = await token({ sub: 'alice', session: 's1' });
    await command(built.app, 's1', alice, 'join-1', { type: 'join', name: 'Alice' });
    const writes: string[] = [];
    built.node.onChange((c) => writes.push(c.key));
    const first = await command(built.app, 's1', alice, 'hand-1', { type: 'raise_hand' });
    const retry = await command(built.app, 's1', alice, 'hand-1', { type: 'raise_hand' });
    expect(first.json()).toMatchObject({ ok: true, duplicate: false });
    expect(retry.json()).toMatchObject({ ok: true, duplicate: true });
    // The command's one update, then the replicated marker that it was done (replicated-dedupe.ts).
    expect(writes).toHaveLength(2);
    expect(writes[0]).toBe('s/s1/hand/alice');
    expect(writes[1]).toMatch(/^d\/\d+$/);
    const conflict = await command(built.app, 's1', alice, 'hand-1', { type: 'lower_hand' });
    expect([conflict.statusCode, conflict.json().error.code]).toEqual([409, 'idempotency_conflict']);
  });

  it('rest: concurrent joins never exceed maxParticipants (membership commands of a session run one at a time)', async () => {
    const built = server();
    await createSession(built, 's1', { lobby: false, maxParticipants: 5 });
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => token({ sub: `p${i}`, session: 's1' })));
    const answers = await Promise.all(tokens.map((t, i) => command(built.app, 's1', t, `j${i}`, { type: 'join', name: `P${i}` })));
    const codes = answers.map((a) => (a.statusCode === 200 ? 'ok' : a.json().error.code));
    expect(codes.filter((c) => c === 'ok')).toHaveLength(5);
    expect(codes.filter((c) => c === 'session_full')).toHaveLength(15);
    const view = built.commands.view('s1')!;
    expect(view.participants.filter((p) => p.presence === 'joined')).toHaveLength(5);
  });

  it('rest: creating more sessions than sessionsMax is refused too_many_sessions; ended ones do not count', async () => {
    const built = server({ limits: { sessionsMax: 2 } });
    await createSession(built, 'a');
    await createSession(built, 'b');
    const third = await built.app.inject({ method: 'POST', url: '/v1/sessions', headers: ADMIN_HEADERS, payload: { id: 'c' } });
    expect([third.statusCode, third.json().error.code]).toEqual([503, 'too_many_sessions']);
    await built.app.inject({ method: 'POST', url: '/v1/sessions/a/end', headers: ADMIN_HEADERS });
    await createSession(built, 'c');
  });

  it('rest: unknown fields, oversized strings, bad JSON and oversized bodies are refused with a code naming the field, and change nothing', async () => {
    const built = server({ limits: { bodyBytesMax: 4096 } });
    await createSession(built, 's1');
    const alice = await token({ sub: 'alice', session: 's1' });
    const sizeBefore = built.node.store.size;
    const cases: [unknown, string, string][] = [
      [{ id: 'x', command: { type: 'join', name: 'A', admin: true } }, 'invalid_request', 'body/command/admin'],
      [{ id: 'x', command: { type: 'join', name: 'A'.repeat(65) } }, 'invalid_request', 'body/command/name'],
      [{ id: 'x', command: { type: 'join' } }, 'invalid_request', 'body/command/name'],
      [{ id: 'x', command: { type: 'teleport' } }, 'invalid_request', 'body/command/type'],
      [{ id: 'x y', command: { type: 'leave' } }, 'invalid_request', 'body/id'],
      [{ id: 'x', command: { type: 'leave' }, extra: 1 }, 'invalid_request', 'body/extra'],
      [{ id: 'x', command: { type: 'mute', participant: 'alice', kind: 'smell' } }, 'invalid_request', 'body/command/kind'],
    ];
    for (const [payload, code, field] of cases) {
      const response = await built.app.inject({ method: 'POST', url: '/v1/sessions/s1/commands', headers: bearer(alice), payload: payload as object });
      expect([response.statusCode, response.json().error.code], JSON.stringify(payload)).toEqual([400, code]);
      expect(response.json().error.message).toContain(field);
    }
    const badJson = await built.app.inject({ method: 'POST', url: '/v1/sessions/s1/commands', headers: { ...bearer(alice), 'content-type': 'application/json' }, payload: '{"id":' });
    expect([badJson.statusCode, badJson.json().error.code]).toEqual([400, 'invalid_json']);
    const huge = await built.app.inject({ method: 'POST', url: '/v1/sessions/s1/commands', headers: bearer(alice), payload: { id: 'x', command: { type: 'join', name: 'A' }, pad: 'x'.repeat(5000) } });
    expect([huge.statusCode, huge.json().error.code]).toEqual([413, 'too_large']);
    const badParam = await built.app.inject({ method: 'GET', url: '/v1/sessions/bad%20id', headers: ADMIN_HEADERS });
    expect([badParam.statusCode, badParam.json().error.code]).toEqual([400, 'invalid_request']);
    expect(built.node.store.size).toBe(sizeBefore);
  });

  it('rest: an unknown route is 404 route_not_found', async () => {
    const { app } = server();
    const response = await app.inject({ method: 'GET', url: '/v1/nothing-here' });
    expect([response.statusCode, response.json().error.code]).toEqual([404, 'route_not_found']);
  });
});

describe('rest: secondary', () => {
  it('rest: a secondary serves reads from its own store and refuses writes not_primary (421) naming the primary', async () => {
    const node = new MemoryStateNode({ nodeId: 2, role: 'secondary', epoch: 1, primaryUrl: 'https://primary.example:8443' });
    // What replication would have brought: a session's elements.
    node.store.apply('s/s1/meta', { title: 'Replicated', organizer: 'o', createdAtMs: 1, scheduledAtMs: null }, 4096 * 10);
    const built = server({ node });
    const member = await token({ sub: 'm', session: 's1' });
    const read = await built.app.inject({ method: 'GET', url: '/v1/sessions/s1', headers: bearer(member) });
    expect([read.statusCode, read.json().title]).toEqual([200, 'Replicated']);
    const write = await command(built.app, 's1', member, 'j', { type: 'join', name: 'M' });
    expect(write.statusCode).toBe(421);
    expect(write.json().error).toMatchObject({ code: 'not_primary', primaryUrl: 'https://primary.example:8443' });
    const create = await built.app.inject({ method: 'POST', url: '/v1/sessions', headers: ADMIN_HEADERS, payload: { id: 'new' } });
    expect([create.statusCode, create.json().error.code]).toEqual([421, 'not_primary']);
    const ready = await built.app.inject({ method: 'GET', url: '/readyz' });
    expect([ready.statusCode, ready.json().ready]).toEqual([503, false]);
    expect((await built.app.inject({ method: 'GET', url: '/healthz' })).json()).toMatchObject({ status: 'ok', role: 'secondary' });
  });

  it('rest: a secondary still catching up refuses reads unavailable (503) naming the primary, rather than show part of a session', async () => {
    const node = new MemoryStateNode({ nodeId: 2, role: 'secondary', epoch: 1, primaryUrl: 'https://primary.example:8443' });
    node.store.apply('s/s1/meta', { title: 'Replicated', organizer: 'o', createdAtMs: 1, scheduledAtMs: null }, 4096 * 10);
    node.readsComplete = false;
    const built = server({ node });
    const member = await token({ sub: 'm', session: 's1' });
    for (const url of ['/v1/sessions/s1', '/v1/sessions/s1/snapshot']) {
      const read = await built.app.inject({ method: 'GET', url, headers: bearer(member) });
      expect([read.statusCode, read.json().error.code, read.json().error.primaryUrl]).toEqual([503, 'unavailable', 'https://primary.example:8443']);
      expect(read.json().error.message).toContain('catching up');
    }
    node.readsComplete = true;
    expect((await built.app.inject({ method: 'GET', url: '/v1/sessions/s1', headers: bearer(member) })).statusCode).toBe(200);
  });
});

describe('rest: openapi', () => {
  it('rest: /v1/openapi.json is an OpenAPI 3.1 document with every registered route', async () => {
    const built = testServer({ demo: {} });
    close = built.close;
    const routes: { method: string; url: string }[] = [];
    const response = await built.app.inject({ method: 'GET', url: '/v1/openapi.json' });
    expect(response.statusCode).toBe(200);
    const document = JSON.parse(response.body);
    expect(document.openapi).toBe('3.1.0');
    expect(document.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(Object.keys(document.components.schemas)).toEqual(expect.arrayContaining(['Command', 'ClientMessage', 'ServerMessage', 'ErrorBody']));
    // printRoutes draws a tree: each level indents by 4 and adds its segment to its parent's.
    const stack: string[] = [];
    for (const line of built.app.printRoutes({ commonPrefix: false }).split('\n')) {
      const match = /^(.*?)── ([^ ]+)(?: \(([A-Z, ]+)\))?$/.exec(line);
      if (match === null) continue;
      const depth = Math.floor(match[1]!.length / 4);
      stack.length = depth;
      stack.push(match[2]!);
      if (match[3] !== undefined) for (const method of match[3].split(', ')) routes.push({ method, url: stack.join('') });
    }
    const registered = routes.filter((r) => r.method !== 'HEAD');
    expect(registered).toHaveLength(11); // 5 session routes, admin list, demo join, openapi, healthz, readyz, metrics
    for (const { method, url } of registered) {
      const path = url.replace(/:([A-Za-z]+)/g, '{$1}');
      expect(document.paths[path]?.[method.toLowerCase()], `${method} ${url}`).toBeDefined();
    }
    expect(document.paths['/v1/sessions/{id}/commands'].post.requestBody.content['application/json'].schema.properties.command.anyOf.length).toBe(23);
  });

  it('rest: every error code of the table has an HTTP status in 4xx or 5xx', () => {
    for (const [code, spec] of Object.entries(ERRORS)) expect(spec.httpStatus, code).toBeGreaterThanOrEqual(400);
  });
});
