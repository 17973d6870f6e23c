/** Fuzzing the inputs (issue 4: at least 10,000 cases over WebSocket and
 *  REST): random bytes, random JSON, and random near-valid ClientMessages
 *  and REST bodies. The server never fails inside (no `internal`, no 5xx),
 *  keeps serving, answers every command, and input it refuses changes nothing. */

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkClientMessage } from '../../src/server/schemas.ts';
import { numRuns, propertyOptions } from '../support/property.ts';
import { ADMIN_HEADERS, TestClient, bearer, createSession, listeningServer, token } from './support.ts';

const ids = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('s1', 's2', 'alice', 'bob', 'x') }, { weight: 1, arbitrary: fc.constantFrom('', 'a/b', 'é', 'p'.repeat(65)) });
const kinds = fc.constantFrom('audio', 'video', 'screen', 'smell');
const roles = fc.constantFrom('host', 'moderator', 'participant', 'viewer', 'king');
const anyJson = fc.jsonValue({ maxDepth: 4 });

/** Commands: every variant with plausible fields, some wrong. */
const command = fc.oneof(
  fc.record({ type: fc.constantFrom('open', 'leave', 'mute_all', 'raise_hand', 'lock', 'unlock', 'start_recording', 'stop_recording', 'end', 'create') }),
  fc.record({ type: fc.constant('join'), name: fc.oneof(fc.string({ maxLength: 70 }), fc.integer()) }),
  fc.record({ type: fc.constantFrom('admit', 'deny', 'kick', 'lower_hand'), participant: ids }),
  fc.record({ type: fc.constantFrom('mute', 'unmute'), participant: ids, kind: kinds }, { requiredKeys: ['type', 'participant'] }),
  fc.record({ type: fc.constant('set_role'), participant: ids, role: roles }),
  fc.record({ type: fc.constantFrom('publish_track', 'unpublish_track'), kind: kinds, muted: fc.boolean() }, { requiredKeys: ['type', 'kind'] }),
  fc.record({ type: fc.constant('update_settings'), settings: fc.record({ lobby: fc.boolean(), maxParticipants: fc.integer({ min: -5, max: 20_000 }), screenShare: fc.constantFrom('everyone', 'moderators', 'nobody') }, { requiredKeys: [] }) }),
  fc.record({ type: fc.constant('set_presence'), participant: ids, presence: fc.constantFrom('joined', 'left', 'kicked') }),
  fc.record({ type: fc.constant('set_engine'), engine: fc.oneof(fc.constant(null), fc.string({ maxLength: 10 })) }),
  fc.record({ type: fc.string({ maxLength: 12 }) }),
);

/** Near-valid messages, sometimes with an unknown field added. */
const clientMessage = fc
  .tuple(
    fc.oneof(
      { weight: 3, arbitrary: fc.record({ type: fc.constant('command'), id: fc.oneof({ weight: 4, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.string({ maxLength: 70 }) }), session: ids, command }) },
      fc.record({ type: fc.constant('subscribe'), session: ids, resume: fc.record({ stream: fc.string({ maxLength: 20 }), seq: fc.integer({ min: -1, max: 100 }) }) }, { requiredKeys: ['type', 'session'] }),
      fc.record({ type: fc.constant('unsubscribe'), session: ids }),
      fc.record({ type: fc.constant('signal'), session: ids, to: ids, payload: anyJson }),
      fc.record({ type: fc.constant('ping'), id: fc.string({ maxLength: 70 }) }),
      fc.record({ type: fc.constant('hello'), token: fc.string({ maxLength: 20 }), protocol: fc.integer() }),
    ),
    fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), anyJson) }),
  )
  .map(([message, extra]) => (extra === null ? message : { ...message, [extra[0]]: extra[1] }));

/** One frame: a near-valid message, random JSON, random text or random bytes. */
const frame = fc.oneof(
  { weight: 6, arbitrary: clientMessage.map((m) => JSON.stringify(m)) },
  { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
);

function isValidCommand(text: string): boolean {
  try {
    const checked = checkClientMessage(JSON.parse(text));
    return checked.ok && checked.value.type === 'command';
  } catch {
    return false;
  }
}

describe('fuzz: schema checks', () => {
  it('fuzz: checkClientMessage never throws, and what it accepts has a known type', () => {
    fc.assert(
      fc.property(fc.oneof(clientMessage, anyJson, fc.anything()), (value) => {
        const checked = checkClientMessage(value);
        if (checked.ok) expect(['hello', 'subscribe', 'unsubscribe', 'command', 'signal', 'ping']).toContain(checked.value.type);
        else expect(checked.problem.message.length).toBeGreaterThan(0);
      }),
      propertyOptions({ numRuns: numRuns * 10 }),
    );
  });
});

describe('fuzz: over the wire', () => {
  let server: Awaited<ReturnType<typeof listeningServer>>;
  let control: TestClient;

  beforeAll(async () => {
    // Limits high enough that the fuzz exercises handlers, not only the rate limiter.
    server = await listeningServer({ limits: { messagesPerSecond: 1_000_000, messageBurst: 1_000_000, invalidMessagesMax: 1_000_000 } });
    await createSession(server, 's1');
    control = await TestClient.welcomed(server.url, await token({ sub: 'control', session: '*', role: 'host' }));
  });
  afterAll(async () => {
    await control.close();
    await server.close();
  });

  it('fuzz: random frames on a WebSocket never break the server; every command is answered and none fails inside', async () => {
    const alice = await TestClient.welcomed(server.url, await token({ sub: 'alice', session: 's1', role: 'host' }));
    let sent = 0;
    let commands = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 10 }), async (frames) => {
        for (const f of frames) {
          alice.socket.send(f, { binary: typeof f !== 'string' });
          if (typeof f === 'string' && isValidCommand(f)) commands++;
        }
        sent += frames.length;
        control.send({ type: 'ping', id: `after-${sent}` });
        await control.next((m) => m.type === 'pong' && m.id === `after-${sent}`);
      }),
      propertyOptions({ numRuns }),
    );
    alice.send({ type: 'ping', id: 'last' });
    await alice.next((m) => m.type === 'pong' && m.id === 'last', 10_000);
    expect(sent).toBeGreaterThanOrEqual(numRuns);
    expect(commands).toBeGreaterThan(numRuns / 5); // most frames are deliberately invalid
    const results = () => alice.received.filter((m) => m.type === 'result').length;
    const deadline = Date.now() + 10_000;
    while (results() < commands && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(results()).toBe(commands);
    const internal = alice.received.filter((m) => (m.type === 'error' || (m.type === 'result' && !m.ok)) && 'code' in m && m.code === 'internal');
    expect(internal).toEqual([]);
    await alice.close();
  }, 300_000);

  it('fuzz: random REST command bodies get 2xx or a 4xx with an error code, never 5xx; refused ones change nothing', async () => {
    const host = await token({ sub: 'hana', session: 's1', role: 'host' });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.record({ id: fc.uuid(), command }), clientMessage, anyJson), { minLength: 1, maxLength: 10 }),
        async (bodies) => {
          for (const body of bodies) {
            const before = server.node.store.size + server.node.status().answerCounts.get('applied')!;
            const response = await server.app.inject({ method: 'POST', url: '/v1/sessions/s1/commands', headers: { ...bearer(host), 'content-type': 'application/json' }, payload: JSON.stringify(body) });
            expect(response.statusCode, response.body).toBeLessThan(500);
            if (response.statusCode >= 400) {
              expect(response.json().error.code).toMatch(/^[a-z_]+$/);
              expect(server.node.store.size + server.node.status().answerCounts.get('applied')!).toBe(before);
            }
          }
        },
      ),
      propertyOptions({ numRuns }),
    );
    expect((await server.app.inject({ method: 'GET', url: '/v1/admin/sessions', headers: ADMIN_HEADERS })).statusCode).toBe(200);
  }, 300_000);
});
