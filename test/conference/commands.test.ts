/** Example-based tests of planCommand: per command, what it writes when
 *  allowed and which code refuses it otherwise. Each names one behaviour. */

import { describe, expect, it } from 'vitest';
import { planCommand } from '../../src/conference/commands.ts';
import { type Command, MAX_PARTICIPANTS_LIMIT, TITLE_LENGTH_MAX } from '../../src/conference/model.ts';
import { SYSTEM, TestSession, openSession, participant, service } from './harness.ts';

const host = participant('h1', 'host');

describe('create', () => {
  it('create: a service host writes settings, phase, recording, engine and meta, and joins nobody', () => {
    const session = new TestSession();
    const updates = session.ok(service('backend'), { type: 'create', title: ' Standup ', settings: { lobby: false }, engine: 'sfu-1' });
    expect(updates.map((u) => u.key)).toEqual(['s/s1/settings', 's/s1/phase', 's/s1/recording', 's/s1/engine', 's/s1/meta']);
    const view = session.must();
    expect(view).toMatchObject({ title: 'Standup', organizer: 'backend', phase: 'open', engine: 'sfu-1', participants: [], hands: [] });
    expect(view.settings).toEqual({ lobby: false, maxParticipants: 100, selfUnmute: true, screenShare: 'everyone' });
    expect(view.recording).toEqual({ active: false, by: 'backend', sinceMs: null });
  });

  it('create: a start time in the future makes the session scheduled, one in the past opens it', () => {
    const later = new TestSession('later');
    later.ok(participant('h1', 'host'), { type: 'create', scheduledAtMs: later.nowMs + 60_000 });
    expect(later.must()).toMatchObject({ phase: 'scheduled', scheduledAtMs: later.nowMs - 1000 + 60_000 });
    const past = new TestSession('past');
    past.ok(participant('h1', 'host'), { type: 'create', scheduledAtMs: 5 });
    expect(past.must().phase).toBe('open');
  });

  it('create: a service moderator may create, a participant moderator may not', () => {
    new TestSession('a').ok(service('svc', 'moderator'), { type: 'create' });
    const message = new TestSession('b').refused(participant('m1', 'moderator'), { type: 'create' }, 'forbidden');
    expect(message).toBe('participant "m1" may not create session "b": a moderator may create only if the actor is a service (a trusted backend), not a participant');
  });

  it('create: participants, viewers and the system actor are refused', () => {
    new TestSession().refused(participant('p1'), { type: 'create' }, 'forbidden');
    new TestSession().refused(participant('v1', 'viewer'), { type: 'create' }, 'forbidden');
    new TestSession().refused(SYSTEM, { type: 'create' }, 'forbidden');
  });

  it('create: an existing session is already_exists', () => {
    const session = openSession();
    expect(session.refused(service('backend'), { type: 'create' }, 'already_exists')).toBe('session "s1" already exists (created by "backend")');
  });

  it('create: bad titles, settings, start times and engines are invalid_command', () => {
    const bad: Command[] = [
      { type: 'create', title: 'x'.repeat(TITLE_LENGTH_MAX + 1) },
      { type: 'create', title: 'bell\u0007' },
      { type: 'create', settings: { maxParticipants: 0 } },
      { type: 'create', settings: { maxParticipants: MAX_PARTICIPANTS_LIMIT + 1 } },
      { type: 'create', settings: { maxParticipants: 2.5 } },
      { type: 'create', settings: { screenShare: 'nobody' as never } },
      { type: 'create', settings: { colour: 'blue' } as never },
      { type: 'create', scheduledAtMs: -1 },
      { type: 'create', engine: 'has space' },
    ];
    for (const command of bad) new TestSession().refused(service('backend'), command, 'invalid_command');
  });
});

describe('any command but create', () => {
  it('any command: on a session that does not exist is not_found', () => {
    const plan = planCommand(undefined, 's9', host, { type: 'join', name: 'Hana' }, 0);
    expect(plan).toEqual({ ok: false, error: { code: 'not_found', message: 'session "s9" does not exist' } });
  });

  it('any command: on an ended session is session_ended', () => {
    const session = openSession();
    session.ok(host, { type: 'end' });
    session.refused(participant('p1'), { type: 'join', name: 'Pia' }, 'session_ended');
    session.refused(host, { type: 'raise_hand' }, 'session_ended');
  });

  it('any command: an unknown type or a non-object is invalid_command', () => {
    const session = openSession();
    expect(session.refused(host, { type: 'dance' } as never, 'invalid_command')).toBe('unknown command type "dance"');
    expect(planCommand(session.must(), 's1', host, null as never, 0)).toMatchObject({ ok: false, error: { code: 'invalid_command' } });
    expect(planCommand(session.must(), 's1', host, { type: 'toString' } as never, 0)).toMatchObject({ ok: false, error: { code: 'invalid_command' } });
  });

  it('any command: a participant in the lobby is not_member for commands other than join and leave', () => {
    const session = openSession();
    session.ok(participant('p7'), { type: 'join', name: 'Pia' });
    expect(session.refused(participant('p7'), { type: 'raise_hand' }, 'not_member')).toBe('participant "p7" is in the lobby of session "s1", not joined');
  });
});
