/** The conference page's pure parts, in Node: which servers it tries in
 *  which order, how it reads a token, which relayed signals it accepts, what
 *  it says about its connection, and the sentences it announces. The rest of
 *  the page is exercised in Chromium by test/e2e. */

import { describe, expect, it } from 'vitest';
import type { ConnectionStatus } from '../../src/client/conference-client.ts';
import type { Actor, ParticipantView, SessionView } from '../../src/conference/model.ts';
import { DEFAULT_SETTINGS } from '../../src/conference/model.ts';
import { announcementsOf } from '../../web/src/announcements.ts';
import { connectionInfo, hostOf, streamEpochOf } from '../../web/src/connection.ts';
import { serverOrder } from '../../web/src/page-config.ts';
import { parsePeerSignal } from '../../web/src/signal.ts';
import { GrantError, readToken } from '../../web/src/token.ts';

describe('page: servers', () => {
  it('page: the server that served the page comes first, then each other one once', () => {
    expect(serverOrder('http://127.0.0.1:7481', ['http://127.0.0.1:7480', 'http://127.0.0.1:7481/'])).toEqual(['http://127.0.0.1:7481', 'http://127.0.0.1:7480']);
    expect(serverOrder('https://conf.example.com/', [])).toEqual(['https://conf.example.com']);
  });

  it('page: a server is named by host and port', () => {
    expect(hostOf('ws://127.0.0.1:7480/v1/ws')).toBe('127.0.0.1:7480');
    expect(hostOf('http://[::1]:7481')).toBe('[::1]:7481');
    expect(hostOf(null)).toBe('');
  });
});

/** A JWT with these claims; the signature is not read by the page. */
function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'HS256' })}.${part(claims)}.signature`;
}

describe('page: tokens', () => {
  const nowMs = 1_700_000_000_000;

  it('page: a token gives participant, session, role and expiry', () => {
    expect(readToken(` ${jwt({ sub: 'ada', session: 'standup', role: 'host', exp: nowMs / 1000 + 60 })}\n`, nowMs)).toEqual({ participant: 'ada', session: 'standup', role: 'host', expiresAtMs: nowMs + 60_000 });
  });

  it('page: malformed, service, incomplete and expired tokens are refused with a sentence each', () => {
    const refusal = (token: string): string => {
      try {
        readToken(token, nowMs);
      } catch (error) {
        expect(error).toBeInstanceOf(GrantError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refusal('abc')).toMatch(/three parts/);
    expect(refusal('a.%%%.c')).toMatch(/cannot be read/);
    expect(refusal(jwt({ sub: 'sfu', session: '*', role: 'host' }))).toMatch(/service token/);
    expect(refusal(jwt({ sub: 'ada', session: 'standup', role: 'king' }))).toMatch(/lacks/);
    expect(refusal(jwt({ sub: 'ada', session: 'a/b', role: 'host' }))).toMatch(/lacks/);
    expect(refusal(jwt({ sub: 'ada', session: 'standup', role: 'host', exp: nowMs / 1000 - 1 }))).toMatch(/expired/);
  });
});

describe('page: relayed signals', () => {
  const offer = { v: 1, from: '0123456789abcdef', to: null, description: { type: 'offer', sdp: 'v=0' }, screen: null };

  it('page: an offer, an answer and a candidate of ours are accepted', () => {
    expect(parsePeerSignal(offer)).toEqual(offer);
    expect(parsePeerSignal({ ...offer, to: 'fedcba9876543210', description: { type: 'answer', sdp: 'v=0' } })).toBeDefined();
    expect(parsePeerSignal({ v: 1, from: 'aa', to: 'bb', candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0' } })).toBeDefined();
  });

  it('page: anything else another member may send is dropped', () => {
    for (const bad of [
      null,
      'offer',
      { ...offer, v: 2 },
      { ...offer, from: 'not hex' },
      { ...offer, to: 7 },
      { ...offer, description: { type: 'bogus', sdp: 'v=0' } },
      { ...offer, description: { type: 'offer' } },
      { ...offer, candidate: { candidate: 'x' } }, // both a description and a candidate
      { v: 1, from: 'aa', to: null }, // neither
      { v: 1, from: 'aa', to: null, candidate: [] },
      { ...offer, screen: 5 },
    ]) {
      expect(parsePeerSignal(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });
});

function status(overrides: Partial<ConnectionStatus>): ConnectionStatus {
  return { state: 'connected', url: 'ws://127.0.0.1:7481/v1/ws', node: { nodeId: 2, role: 'secondary', epoch: 1, primaryUrl: 'http://127.0.0.1:7480' }, identity: null, failedOver: false, attempt: 0, lastError: null, ...overrides };
}

describe('page: the connection indicator', () => {
  it('page: the epoch of a stream id', () => {
    expect(streamEpochOf('a1b2c3-e12-4')).toBe(12);
    expect(streamEpochOf('whatever')).toBeUndefined();
    expect(streamEpochOf(undefined)).toBeUndefined();
  });

  it('page: the welcome’s role holds while the stream’s epoch is the welcome’s', () => {
    expect(connectionInfo(status({}), 1, false)).toEqual({ state: 'connected', server: '127.0.0.1:7481', nodeRole: 'secondary', failedOver: false, problem: null });
  });

  it('page: a secondary promoted under us is unknown until a command succeeds there, then primary', () => {
    expect(connectionInfo(status({}), 2, false).nodeRole).toBeNull();
    expect(connectionInfo(status({}), 2, true).nodeRole).toBe('primary');
  });

  it('page: a move after a lost connection is a failover; a not_primary redirect is not', () => {
    expect(connectionInfo(status({ failedOver: true, lastError: { code: 'connect_failed', message: 'refused' } }), 1, false)).toMatchObject({ failedOver: true, problem: 'refused' });
    expect(connectionInfo(status({ failedOver: true, lastError: { code: 'not_primary', message: 'go there' } }), 1, false).failedOver).toBe(false);
  });

  it('page: no role while not connected', () => {
    expect(connectionInfo(status({ state: 'reconnecting', node: null }), 1, true)).toMatchObject({ state: 'reconnecting', nodeRole: null });
  });
});

function person(id: string, name: string, extra: Partial<ParticipantView> = {}): ParticipantView {
  return { id, name, role: 'participant', roleStored: true, presence: 'joined', joinedAtMs: 1, tracks: {}, handPosition: null, ...extra };
}

function view(participants: ParticipantView[], extra: Partial<SessionView> = {}): SessionView {
  return {
    id: 's', title: 't', organizer: 'ada', createdAtMs: 0, scheduledAtMs: null, phase: 'open', settings: DEFAULT_SETTINGS,
    recording: { active: false, by: '', sinceMs: null }, engine: null, participants, hands: [], ...extra,
  };
}

describe('page: announcements', () => {
  const ada = person('ada', 'Ada', { role: 'host' });
  const host: Actor = { kind: 'participant', id: 'ada', tokenRole: 'host' };
  const bo: Actor = { kind: 'participant', id: 'bo', tokenRole: 'participant' };

  it('page: a host is told of the lobby as a notice; joins, leaves and hands are read out', () => {
    const before = view([ada]);
    expect(announcementsOf(before, view([ada, person('bo', 'Bo', { presence: 'lobby' })]), host)).toEqual([{ text: 'Bo is waiting in the lobby.', notice: true, whileInLobby: 'bo' }]);
    expect(announcementsOf(view([ada, person('bo', 'Bo', { presence: 'lobby' })]), view([ada, person('bo', 'Bo')]), host)).toEqual([{ text: 'Bo joined.', notice: false }]);
    expect(announcementsOf(view([ada, person('bo', 'Bo')]), view([ada, person('bo', 'Bo', { presence: 'kicked' })]), host)).toEqual([{ text: 'Bo was removed from the meeting.', notice: false }]);
    expect(announcementsOf(view([ada, person('bo', 'Bo')]), view([ada, person('bo', 'Bo', { handPosition: 0 })], { hands: ['bo'] }), host)).toEqual([{ text: 'Bo raised a hand.', notice: false }]);
  });

  it('page: a participant is told who muted them, and of a new role, as notices', () => {
    const audio = (muted: boolean, mutedBy: string | null) => ({ audio: { kind: 'audio' as const, published: true, muted, mutedBy } });
    const before = view([ada, person('bo', 'Bo', { tracks: audio(false, null) })]);
    expect(announcementsOf(before, view([ada, person('bo', 'Bo', { tracks: audio(true, 'ada') })]), bo)).toEqual([{ text: 'Ada muted your microphone.', notice: true }]);
    expect(announcementsOf(before, view([ada, person('bo', 'Bo', { tracks: audio(true, null) })]), bo)).toEqual([]); // muting oneself says nothing
    expect(announcementsOf(before, view([ada, person('bo', 'Bo', { role: 'moderator', tracks: audio(false, null) })]), bo)).toEqual([{ text: 'You are now a moderator.', notice: true }]);
  });

  it('page: locking and unlocking are announced; the first view announces nothing', () => {
    expect(announcementsOf(view([ada]), view([ada], { phase: 'locked' }), host)).toEqual([{ text: 'The meeting is now locked: nobody new can join.', notice: true }]);
    expect(announcementsOf(view([ada], { phase: 'locked' }), view([ada]), host)).toEqual([{ text: 'The meeting is unlocked.', notice: true }]);
    expect(announcementsOf(undefined, view([ada]), host)).toEqual([]);
  });
});
