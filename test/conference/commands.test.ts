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

describe('join', () => {
  it('join: a participant waits in the lobby when the lobby is on; role and presence are written', () => {
    const session = openSession();
    const updates = session.ok(participant('p1'), { type: 'join', name: '  Pia  ' });
    expect(updates).toEqual([
      { key: 's/s1/role/p1', value: { role: 'participant', by: 'p1' } },
      { key: 's/s1/p/p1', value: { name: 'Pia', presence: 'lobby', joinedAtMs: expect.any(Number) } },
    ]);
    expect(session.person('p1')).toMatchObject({ presence: 'lobby', role: 'participant', roleStored: true });
  });

  it('join: hosts and moderators skip the lobby', () => {
    const session = openSession();
    session.ok(participant('m1', 'moderator'), { type: 'join', name: 'Mo' });
    expect(session.person('h1')!.presence).toBe('joined');
    expect(session.person('m1')!.presence).toBe('joined');
  });

  it('join: without a lobby a participant joins directly, but a scheduled session still holds them in the lobby', () => {
    const open = openSession({ lobby: false });
    open.ok(participant('p1'), { type: 'join', name: 'Pia' });
    expect(open.person('p1')!.presence).toBe('joined');
    const scheduled = new TestSession();
    scheduled.ok(service('backend'), { type: 'create', settings: { lobby: false }, scheduledAtMs: scheduled.nowMs + 3_600_000 });
    scheduled.ok(participant('p1'), { type: 'join', name: 'Pia' });
    expect(scheduled.person('p1')!.presence).toBe('lobby');
  });

  it('join: the stored role wins over the token role, and is not rewritten', () => {
    const session = openSession({ lobby: false }, [['p1', 'participant']]);
    session.ok(host, { type: 'set_role', participant: 'p1', role: 'moderator' });
    session.ok(participant('p1'), { type: 'leave' });
    const updates = session.ok(participant('p1', 'viewer'), { type: 'join', name: 'name of p1' });
    expect(updates.map((u) => u.key)).toEqual(['s/s1/p/p1']);
    expect(session.person('p1')).toMatchObject({ role: 'moderator', presence: 'joined' });
  });

  it('join: a rejoin keeps the first joinedAtMs', () => {
    const session = openSession({ lobby: false }, [['p1', 'participant']]);
    const first = session.person('p1')!.joinedAtMs;
    session.ok(participant('p1'), { type: 'leave' });
    session.ok(participant('p1'), { type: 'join', name: 'Pia again' });
    expect(session.person('p1')).toMatchObject({ joinedAtMs: first, name: 'Pia again', presence: 'joined' });
  });

  it('join: joining when joined writes nothing; when reconnecting it rewrites presence only', () => {
    const session = openSession({}, [['p1', 'participant']]);
    expect(session.ok(participant('p1'), { type: 'join', name: 'name of p1' })).toEqual([]);
    session.ok(SYSTEM, { type: 'set_presence', participant: 'p1', presence: 'reconnecting' });
    const updates = session.ok(participant('p1'), { type: 'join', name: 'name of p1' });
    expect(updates).toEqual([{ key: 's/s1/p/p1', value: expect.objectContaining({ presence: 'joined' }) }]);
  });

  it('join: a kicked or denied participant cannot rejoin', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.ok(participant('p2'), { type: 'join', name: 'Pat' });
    session.ok(host, { type: 'kick', participant: 'p1' });
    session.ok(host, { type: 'deny', participant: 'p2' });
    expect(session.refused(participant('p1'), { type: 'join', name: 'Pia' }, 'forbidden')).toBe(
      'participant "p1" may not join in session "s1": a participant may join only if the participant was not kicked or denied before (they may not come back)',
    );
    session.refused(participant('p2'), { type: 'join', name: 'Pat' }, 'forbidden');
  });

  it('join: a locked session refuses new participants and viewers but lets hosts, moderators and the present in', () => {
    const session = openSession({ lobby: false }, [['p1', 'participant']]);
    session.ok(host, { type: 'lock' });
    expect(session.refused(participant('p2'), { type: 'join', name: 'Pat' }, 'session_locked')).toBe('session "s1" is locked: participant "p2" cannot join as participant');
    session.refused(participant('v1', 'viewer'), { type: 'join', name: 'Vic' }, 'session_locked');
    session.ok(participant('m1', 'moderator'), { type: 'join', name: 'Mo' });
    expect(session.ok(participant('p1'), { type: 'join', name: 'name of p1' })).toEqual([]);
  });

  it('join: a participant already in the lobby of a locked session stays there and can still be admitted', () => {
    const session = openSession();
    session.ok(participant('p1'), { type: 'join', name: 'Pia' });
    session.ok(host, { type: 'lock' });
    expect(session.ok(participant('p1'), { type: 'join', name: 'Pia' })).toEqual([]);
    session.ok(host, { type: 'admit', participant: 'p1' });
    expect(session.person('p1')!.presence).toBe('joined');
  });

  it('join: joining directly when maxParticipants are present is session_full; the lobby does not count', () => {
    const session = openSession({ lobby: false, maxParticipants: 2 }, [['p1', 'participant']]);
    expect(session.refused(participant('p2'), { type: 'join', name: 'Pat' }, 'session_full')).toBe('session "s1" has 2 participants present, its maxParticipants is 2');
    session.refused(participant('m1', 'moderator'), { type: 'join', name: 'Mo' }, 'session_full');
    session.ok(host, { type: 'update_settings', settings: { lobby: true } });
    session.ok(participant('p2'), { type: 'join', name: 'Pat' });
    expect(session.person('p2')!.presence).toBe('lobby');
  });

  it('join: services and the system actor cannot join', () => {
    const session = openSession();
    session.refused(service('backend'), { type: 'join', name: 'Bot' }, 'forbidden');
    session.refused(SYSTEM, { type: 'join', name: 'Server' }, 'forbidden');
  });

  it('join: names must be 1-64 characters after trimming, without control or bidi characters', () => {
    const session = openSession();
    for (const name of ['', '   ', 'x'.repeat(65), 'tab\there', 'new\nline', 'evil\u202egnp.exe', 'nul\u0000']) {
      session.refused(participant('p1'), { type: 'join', name }, 'invalid_command');
    }
    session.ok(participant('p1'), { type: 'join', name: ` ${'x'.repeat(64)} ` });
    session.ok(participant('p2'), { type: 'join', name: 'Zoë 🎧' });
  });
});

describe('admit and deny', () => {
  it('admit: a moderator admits a participant from the lobby', () => {
    const session = openSession({}, [['m1', 'moderator']]);
    session.ok(participant('p1'), { type: 'join', name: 'Pia' });
    session.ok(participant('m1', 'moderator'), { type: 'admit', participant: 'p1' });
    expect(session.person('p1')!.presence).toBe('joined');
  });

  it('admit: a participant may not admit', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.ok(participant('p2'), { type: 'join', name: 'Pat' });
    expect(session.refused(participant('p1'), { type: 'admit', participant: 'p2' }, 'forbidden')).toBe('participant "p1" may not admit in session "s1": a participant may not admit');
  });

  it('admit: the target must be in the lobby', () => {
    const session = openSession({}, [['p1', 'participant']]);
    expect(session.refused(host, { type: 'admit', participant: 'p1' }, 'not_member')).toBe('participant "p1" is joined in session "s1", not in its lobby');
    expect(session.refused(host, { type: 'admit', participant: 'nobody' }, 'not_member')).toBe('participant "nobody" is not a member of session "s1"');
  });

  it('admit: admitting beyond maxParticipants is session_full', () => {
    const session = openSession({ maxParticipants: 1 });
    session.ok(participant('p1'), { type: 'join', name: 'Pia' });
    session.refused(host, { type: 'admit', participant: 'p1' }, 'session_full');
  });

  it('deny: a host denies a participant in the lobby, a service moderator too', () => {
    const session = openSession();
    session.ok(participant('p1'), { type: 'join', name: 'Pia' });
    session.ok(participant('p2'), { type: 'join', name: 'Pat' });
    session.ok(host, { type: 'deny', participant: 'p1' });
    session.ok(service('svc', 'moderator'), { type: 'deny', participant: 'p2' });
    expect(session.person('p1')!.presence).toBe('denied');
    expect(session.person('p2')!.presence).toBe('denied');
  });
});

describe('leave', () => {
  it('leave: presence left, the hand lowered and published tracks unpublished with their mute state kept', () => {
    const session = openSession({ lobby: false }, [['p1', 'participant']]);
    const p1 = participant('p1');
    session.ok(p1, { type: 'publish_track', kind: 'audio', muted: true });
    session.ok(p1, { type: 'publish_track', kind: 'video' });
    session.ok(p1, { type: 'raise_hand' });
    const updates = session.ok(p1, { type: 'leave' });
    expect(updates).toEqual([
      { key: 's/s1/p/p1', value: expect.objectContaining({ presence: 'left' }) },
      { key: 's/s1/hand/p1', value: null },
      { key: 's/s1/track/p1/audio', value: { published: false, muted: true, mutedBy: null } },
      { key: 's/s1/track/p1/video', value: { published: false, muted: false, mutedBy: null } },
    ]);
    expect(session.must().hands).toEqual([]);
  });

  it('leave: works from the lobby, and leaving again changes nothing', () => {
    const session = openSession();
    session.ok(participant('p1'), { type: 'join', name: 'Pia' });
    session.ok(participant('p1'), { type: 'leave' });
    expect(session.person('p1')!.presence).toBe('left');
    expect(session.ok(participant('p1'), { type: 'leave' })).toEqual([]);
  });

  it('leave: a kicked participant leaving stays kicked', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.ok(host, { type: 'kick', participant: 'p1' });
    expect(session.ok(participant('p1'), { type: 'leave' })).toEqual([]);
    expect(session.person('p1')!.presence).toBe('kicked');
  });

  it('leave: someone who never joined is not_member', () => {
    expect(openSession().refused(participant('p9'), { type: 'leave' }, 'not_member')).toBe('participant "p9" is not a member of session "s1"');
  });
});

describe('kick', () => {
  it('kick: a host kicks a participant: presence kicked, hand lowered, tracks unpublished', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.ok(participant('p1'), { type: 'publish_track', kind: 'audio' });
    session.ok(participant('p1'), { type: 'raise_hand' });
    session.ok(host, { type: 'kick', participant: 'p1' });
    expect(session.person('p1')).toMatchObject({ presence: 'kicked', handPosition: null, tracks: { audio: { published: false } } });
  });

  it('kick: a moderator cannot kick a host', () => {
    const session = openSession({}, [['m1', 'moderator']]);
    expect(session.refused(participant('m1', 'moderator'), { type: 'kick', participant: 'h1' }, 'forbidden')).toBe(
      'participant "m1" may not kick participant "h1" in session "s1": a moderator may kick only if the target is not a host',
    );
  });

  it('kick: a moderator kicks another moderator; nobody kicks themselves', () => {
    const session = openSession({}, [['m1', 'moderator'], ['m2', 'moderator']]);
    session.ok(participant('m1', 'moderator'), { type: 'kick', participant: 'm2' });
    expect(session.refused(host, { type: 'kick', participant: 'h1' }, 'forbidden')).toBe('participant "h1" may not kick participant "h1" in session "s1": nobody may kick themselves');
  });

  it('kick: a participant cannot kick', () => {
    const session = openSession({}, [['p1', 'participant'], ['p2', 'participant']]);
    session.refused(participant('p1'), { type: 'kick', participant: 'p2' }, 'forbidden');
  });

  it('kick: a service host kicks without being a member', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.ok(service('backend'), { type: 'kick', participant: 'p1' });
    expect(session.person('p1')!.presence).toBe('kicked');
  });
});

describe('mute and unmute', () => {
  it('mute: muting oneself records no mutedBy and keeps published', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.ok(participant('p1'), { type: 'publish_track', kind: 'audio' });
    expect(session.ok(participant('p1'), { type: 'mute', participant: 'p1' })).toEqual([{ key: 's/s1/track/p1/audio', value: { published: true, muted: true, mutedBy: null } }]);
    expect(session.ok(participant('p1'), { type: 'mute', participant: 'p1' })).toEqual([]);
  });

  it('mute: a moderator mutes a participant and is recorded as mutedBy', () => {
    const session = openSession({}, [['m1', 'moderator'], ['p1', 'participant']]);
    session.ok(participant('p1'), { type: 'publish_track', kind: 'video' });
    session.ok(participant('m1', 'moderator'), { type: 'mute', participant: 'p1', kind: 'video' });
    expect(session.person('p1')!.tracks.video).toEqual({ kind: 'video', published: true, muted: true, mutedBy: 'm1' });
  });

  it('mute: a moderator cannot mute a host', () => {
    const session = openSession({}, [['m1', 'moderator']]);
    session.refused(participant('m1', 'moderator'), { type: 'mute', participant: 'h1' }, 'forbidden');
  });

  it('mute: a participant cannot mute someone else', () => {
    const session = openSession({}, [['p1', 'participant'], ['p2', 'participant']]);
    expect(session.refused(participant('p1'), { type: 'mute', participant: 'p2' }, 'forbidden')).toBe(
      'participant "p1" may not mute participant "p2" in session "s1": a participant may mute only itself',
    );
  });

  it('mute: the target must be present', () => {
    const session = openSession();
    session.ok(participant('p1'), { type: 'join', name: 'Pia' });
    session.refused(host, { type: 'mute', participant: 'p1' }, 'not_member');
  });

  it('mute: muting oneself does not erase a moderator mute', () => {
    const session = openSession({ selfUnmute: false }, [['p1', 'participant']]);
    session.ok(host, { type: 'mute', participant: 'p1' });
    expect(session.ok(participant('p1'), { type: 'mute', participant: 'p1' })).toEqual([]);
    expect(session.person('p1')!.tracks.audio!.mutedBy).toBe('h1');
  });

  it('unmute: nobody unmutes someone else, not even a host', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.ok(participant('p1'), { type: 'mute', participant: 'p1' });
    expect(session.refused(host, { type: 'unmute', participant: 'p1' }, 'forbidden')).toBe('participant "h1" may not unmute participant "p1" in session "s1": a host may unmute only itself');
    session.refused(service('backend'), { type: 'unmute', participant: 'p1' }, 'forbidden');
  });

  it('unmute: a participant unmutes itself after muting itself', () => {
    const session = openSession({ selfUnmute: false }, [['p1', 'participant']]);
    session.ok(participant('p1'), { type: 'publish_track', kind: 'audio', muted: true });
    session.ok(participant('p1'), { type: 'unmute', participant: 'p1' });
    expect(session.person('p1')!.tracks.audio).toMatchObject({ muted: false, mutedBy: null, published: true });
  });

  it('unmute: a participant muted by a moderator may unmute only when selfUnmute is on', () => {
    const strict = openSession({ selfUnmute: false }, [['p1', 'participant']]);
    strict.ok(host, { type: 'mute', participant: 'p1' });
    expect(strict.refused(participant('p1'), { type: 'unmute', participant: 'p1' }, 'forbidden')).toBe(
      'participant "p1" may not unmute participant "p1" in session "s1": a participant may unmute only if the track was not muted by someone else, or `settings.selfUnmute` is on',
    );
    const relaxed = openSession({ selfUnmute: true }, [['p1', 'participant']]);
    relaxed.ok(host, { type: 'mute', participant: 'p1' });
    relaxed.ok(participant('p1'), { type: 'unmute', participant: 'p1' });
    expect(relaxed.person('p1')!.tracks.audio!.muted).toBe(false);
  });

  it('unmute: a moderator muted by a host may unmute itself whatever selfUnmute says', () => {
    const session = openSession({ selfUnmute: false }, [['m1', 'moderator']]);
    session.ok(host, { type: 'mute', participant: 'm1' });
    session.ok(participant('m1', 'moderator'), { type: 'unmute', participant: 'm1' });
  });

  it('unmute: a viewer cannot unmute', () => {
    const session = openSession({}, [['v1', 'viewer']]);
    session.refused(participant('v1', 'viewer'), { type: 'unmute', participant: 'v1' }, 'forbidden');
  });

  it('unmute: an unmuted or unknown track changes nothing', () => {
    const session = openSession({}, [['p1', 'participant']]);
    expect(session.ok(participant('p1'), { type: 'unmute', participant: 'p1', kind: 'screen' })).toEqual([]);
  });
});

describe('mute_all', () => {
  it('mute_all: mutes the audio of present participants and viewers, not hosts, moderators, the actor or those muted already', () => {
    const session = openSession({}, [['m1', 'moderator'], ['p1', 'participant'], ['p2', 'participant'], ['v1', 'viewer']]);
    session.ok(participant('p1'), { type: 'publish_track', kind: 'audio' });
    session.ok(participant('p2'), { type: 'publish_track', kind: 'audio', muted: true });
    session.ok(participant('p3'), { type: 'join', name: 'In the lobby' });
    const updates = session.ok(participant('m1', 'moderator'), { type: 'mute_all' });
    expect(updates).toEqual([
      { key: 's/s1/track/p1/audio', value: { published: true, muted: true, mutedBy: 'm1' } },
      { key: 's/s1/track/v1/audio', value: { published: false, muted: true, mutedBy: 'm1' } },
    ]);
  });

  it('mute_all: a participant may not', () => {
    openSession({}, [['p1', 'participant']]).refused(participant('p1'), { type: 'mute_all' }, 'forbidden');
  });
});

describe('hands', () => {
  it('raise_hand: hands queue in the order raised; raising again changes nothing', () => {
    const session = openSession({}, [['p1', 'participant'], ['v1', 'viewer']]);
    session.ok(participant('v1', 'viewer'), { type: 'raise_hand' });
    session.ok(participant('p1'), { type: 'raise_hand' });
    expect(session.ok(participant('v1', 'viewer'), { type: 'raise_hand' })).toEqual([]);
    expect(session.must().hands).toEqual(['v1', 'p1']);
    expect(session.person('p1')!.handPosition).toBe(1);
  });

  it('lower_hand: one lowers its own hand; a participant may not lower another one', () => {
    const session = openSession({}, [['p1', 'participant'], ['p2', 'participant']]);
    session.ok(participant('p1'), { type: 'raise_hand' });
    session.ok(participant('p2'), { type: 'raise_hand' });
    session.refused(participant('p1'), { type: 'lower_hand', participant: 'p2' }, 'forbidden');
    expect(session.ok(participant('p1'), { type: 'lower_hand' })).toEqual([{ key: 's/s1/hand/p1', value: null }]);
    expect(session.must().hands).toEqual(['p2']);
  });

  it('lower_hand: a moderator lowers anyone’s hand; a lowered hand changes nothing', () => {
    const session = openSession({}, [['m1', 'moderator'], ['p1', 'participant']]);
    session.ok(participant('p1'), { type: 'raise_hand' });
    session.ok(participant('m1', 'moderator'), { type: 'lower_hand', participant: 'p1' });
    expect(session.ok(participant('m1', 'moderator'), { type: 'lower_hand', participant: 'p1' })).toEqual([]);
    expect(session.must().hands).toEqual([]);
  });
});

describe('set_role', () => {
  it('set_role: a host makes a participant moderator; the role records who set it', () => {
    const session = openSession({}, [['p1', 'participant']]);
    expect(session.ok(host, { type: 'set_role', participant: 'p1', role: 'moderator' })).toEqual([{ key: 's/s1/role/p1', value: { role: 'moderator', by: 'h1' } }]);
    expect(session.ok(host, { type: 'set_role', participant: 'p1', role: 'moderator' })).toEqual([]);
  });

  it('set_role: a moderator may move participants and viewers between those two roles only', () => {
    const session = openSession({}, [['m1', 'moderator'], ['p1', 'participant'], ['m2', 'moderator']]);
    const m1 = participant('m1', 'moderator');
    session.ok(m1, { type: 'set_role', participant: 'p1', role: 'viewer' });
    session.ok(m1, { type: 'set_role', participant: 'p1', role: 'participant' });
    session.refused(m1, { type: 'set_role', participant: 'p1', role: 'moderator' }, 'forbidden');
    session.refused(m1, { type: 'set_role', participant: 'm2', role: 'participant' }, 'forbidden');
    session.refused(m1, { type: 'set_role', participant: 'h1', role: 'viewer' }, 'forbidden');
  });

  it('set_role: the last host present may not demote itself; with another host present it may', () => {
    const session = openSession({}, [['h2', 'host']]);
    session.ok(host, { type: 'set_role', participant: 'h1', role: 'moderator' });
    expect(session.refused(participant('h2', 'host'), { type: 'set_role', participant: 'h2', role: 'participant' }, 'forbidden')).toBe(
      'participant "h2" may not set_role participant "h2" in session "s1": a host may set_role only if a host demoting itself is not the last host present (joined or reconnecting)',
    );
  });

  it('set_role: a demoted host acts with its stored role, not its token role', () => {
    const session = openSession({}, [['h2', 'host'], ['p1', 'participant']]);
    session.ok(host, { type: 'set_role', participant: 'h2', role: 'participant' });
    session.refused(participant('h2', 'host'), { type: 'kick', participant: 'p1' }, 'forbidden');
  });

  it('set_role: becoming a viewer unpublishes audio, video and screen', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.ok(participant('p1'), { type: 'publish_track', kind: 'audio' });
    session.ok(participant('p1'), { type: 'publish_track', kind: 'screen' });
    session.ok(host, { type: 'set_role', participant: 'p1', role: 'viewer' });
    expect(session.person('p1')!.tracks).toMatchObject({ audio: { published: false }, screen: { published: false } });
    session.refused(participant('p1'), { type: 'publish_track', kind: 'video' }, 'forbidden');
  });

  it('set_role: a host demoting itself to viewer writes the role last, so repeating a demotion cut short before it completes it', () => {
    const session = openSession({}, [['h2', 'host']]);
    const h2 = participant('h2', 'host');
    session.ok(h2, { type: 'publish_track', kind: 'audio' });
    const plan = planCommand(session.must(), 's1', h2, { type: 'set_role', participant: 'h2', role: 'viewer' }, session.nowMs);
    expect(plan.ok && plan.updates.map((u) => u.key)).toEqual(['s/s1/track/h2/audio', 's/s1/role/h2']);
    session.apply(plan.ok ? plan.updates.slice(0, 1) : []);
    expect(session.ok(h2, { type: 'set_role', participant: 'h2', role: 'viewer' })).toEqual([{ key: 's/s1/role/h2', value: { role: 'viewer', by: 'h2' } }]);
    expect(session.person('h2')).toMatchObject({ role: 'viewer', tracks: { audio: { published: false } } });
  });

  it('set_role: a participant may not set roles, not even its own', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.refused(participant('p1'), { type: 'set_role', participant: 'p1', role: 'host' }, 'forbidden');
  });
});

describe('tracks', () => {
  it('publish_track: a viewer may not publish', () => {
    const session = openSession({}, [['v1', 'viewer']]);
    expect(session.refused(participant('v1', 'viewer'), { type: 'publish_track', kind: 'audio' }, 'forbidden')).toBe(
      'participant "v1" may not publish_track in session "s1": a viewer may not publish_track',
    );
  });

  it('publish_track: screen sharing for moderators only refuses participants, not moderators', () => {
    const session = openSession({ screenShare: 'moderators' }, [['p1', 'participant'], ['m1', 'moderator']]);
    session.refused(participant('p1'), { type: 'publish_track', kind: 'screen' }, 'forbidden');
    session.ok(participant('p1'), { type: 'publish_track', kind: 'video' });
    session.ok(participant('m1', 'moderator'), { type: 'publish_track', kind: 'screen' });
  });

  it('publish_track: a track muted by a moderator stays muted when selfUnmute is off', () => {
    const session = openSession({ selfUnmute: false }, [['p1', 'participant']]);
    session.ok(host, { type: 'mute_all' });
    session.ok(participant('p1'), { type: 'publish_track', kind: 'audio', muted: false });
    expect(session.person('p1')!.tracks.audio).toMatchObject({ published: true, muted: true, mutedBy: 'h1' });
  });

  it('publish_track: with selfUnmute on, publishing unmuted clears someone else’s mute', () => {
    const session = openSession({ selfUnmute: true }, [['p1', 'participant']]);
    session.ok(host, { type: 'mute_all' });
    session.ok(participant('p1'), { type: 'publish_track', kind: 'audio' });
    expect(session.person('p1')!.tracks.audio).toMatchObject({ published: true, muted: false, mutedBy: null });
  });

  it('unpublish_track: keeps the mute state; an unpublished track changes nothing', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.ok(participant('p1'), { type: 'publish_track', kind: 'video', muted: true });
    expect(session.ok(participant('p1'), { type: 'unpublish_track', kind: 'video' })).toEqual([{ key: 's/s1/track/p1/video', value: { published: false, muted: true, mutedBy: null } }]);
    expect(session.ok(participant('p1'), { type: 'unpublish_track', kind: 'video' })).toEqual([]);
  });
});

describe('phase, recording, settings, engine', () => {
  it('lock: open ↔ locked by a moderator; repeating changes nothing; a participant may not', () => {
    const session = openSession({}, [['m1', 'moderator'], ['p1', 'participant']]);
    const m1 = participant('m1', 'moderator');
    session.refused(participant('p1'), { type: 'lock' }, 'forbidden');
    session.ok(m1, { type: 'lock' });
    expect(session.must().phase).toBe('locked');
    expect(session.ok(m1, { type: 'lock' })).toEqual([]);
    session.ok(m1, { type: 'unlock' });
    expect(session.must().phase).toBe('open');
    expect(session.ok(m1, { type: 'unlock' })).toEqual([]);
  });

  it('open: a host opens a scheduled session; lock and unlock do not apply before', () => {
    const session = new TestSession();
    session.ok(service('backend'), { type: 'create', scheduledAtMs: session.nowMs + 3_600_000 });
    session.ok(host, { type: 'join', name: 'Hana' });
    expect(session.refused(host, { type: 'lock' }, 'invalid_command')).toBe('session "s1" is scheduled; lock applies to an open session');
    expect(session.refused(participant('h2', 'host'), { type: 'open' }, 'not_member')).toBe('participant "h2" is not a member of session "s1"');
    session.ok(host, { type: 'open' });
    expect(session.must().phase).toBe('open');
    expect(session.ok(host, { type: 'open' })).toEqual([]);
  });

  it('open: a moderator may not open a session', () => {
    const session = new TestSession();
    session.ok(service('backend'), { type: 'create', scheduledAtMs: session.nowMs + 3_600_000 });
    session.ok(participant('m1', 'moderator'), { type: 'join', name: 'Mo' });
    session.refused(participant('m1', 'moderator'), { type: 'open' }, 'forbidden');
  });

  it('start_recording: records who and since when; stop_recording clears it', () => {
    const session = openSession();
    const startedAtMs = session.nowMs;
    session.ok(host, { type: 'start_recording' });
    expect(session.must().recording).toEqual({ active: true, by: 'h1', sinceMs: startedAtMs });
    expect(session.ok(host, { type: 'start_recording' })).toEqual([]);
    session.ok(host, { type: 'stop_recording' });
    expect(session.must().recording).toEqual({ active: false, by: 'h1', sinceMs: null });
  });

  it('update_settings: a host merges settings; a moderator may not; bad values are invalid_command', () => {
    const session = openSession({}, [['m1', 'moderator']]);
    session.ok(host, { type: 'update_settings', settings: { selfUnmute: false, maxParticipants: 7 } });
    expect(session.must().settings).toEqual({ lobby: true, maxParticipants: 7, selfUnmute: false, screenShare: 'everyone' });
    expect(session.ok(host, { type: 'update_settings', settings: { maxParticipants: 7 } })).toEqual([]);
    session.refused(participant('m1', 'moderator'), { type: 'update_settings', settings: { lobby: false } }, 'forbidden');
    expect(session.refused(host, { type: 'update_settings', settings: { maxParticipants: 10_001 } }, 'invalid_command')).toBe('settings.maxParticipants must be an integer 1-10000, got 10001');
    session.refused(host, { type: 'update_settings', settings: { lobby: 'yes' as never } }, 'invalid_command');
  });

  it('set_engine: only a service sets the engine', () => {
    const session = openSession();
    session.refused(host, { type: 'set_engine', engine: 'sfu-2' }, 'forbidden');
    session.ok(service('media', 'participant'), { type: 'set_engine', engine: 'sfu-2' });
    expect(session.must().engine).toBe('sfu-2');
    session.ok(service('media', 'participant'), { type: 'set_engine', engine: null });
    expect(session.must().engine).toBeNull();
  });

  it('end: a host ends the session and stops a recording, the phase written last; a moderator may not', () => {
    const session = openSession({}, [['m1', 'moderator']]);
    session.ok(host, { type: 'start_recording' });
    session.refused(participant('m1', 'moderator'), { type: 'end' }, 'forbidden');
    expect(session.ok(host, { type: 'end' }).map((u) => u.key)).toEqual(['s/s1/recording', 's/s1/phase']);
    expect(session.must()).toMatchObject({ phase: 'ended', recording: { active: false } });
  });
});

describe('set_presence', () => {
  it('set_presence: the system moves joined → reconnecting → joined → left, lowering the hand on left', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.ok(participant('p1'), { type: 'raise_hand' });
    session.ok(SYSTEM, { type: 'set_presence', participant: 'p1', presence: 'reconnecting' });
    expect(session.person('p1')!.presence).toBe('reconnecting');
    expect(session.ok(SYSTEM, { type: 'set_presence', participant: 'p1', presence: 'reconnecting' })).toEqual([]);
    session.ok(SYSTEM, { type: 'set_presence', participant: 'p1', presence: 'joined' });
    session.ok(SYSTEM, { type: 'set_presence', participant: 'p1', presence: 'left' });
    expect(session.person('p1')).toMatchObject({ presence: 'left', handPosition: null });
  });

  it('set_presence: only the system actor; targets not joined or reconnecting are not_member', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.refused(host, { type: 'set_presence', participant: 'p1', presence: 'left' }, 'forbidden');
    session.refused(service('backend'), { type: 'set_presence', participant: 'p1', presence: 'left' }, 'forbidden');
    session.ok(participant('p2'), { type: 'join', name: 'Pat' });
    expect(session.refused(SYSTEM, { type: 'set_presence', participant: 'p2', presence: 'joined' }, 'not_member')).toBe(
      'participant "p2" is in the lobby of session "s1"; only joined or reconnecting members have a connection presence',
    );
    session.refused(SYSTEM, { type: 'set_presence', participant: 'p1', presence: 'kicked' as never }, 'invalid_command');
  });

  it('set_presence: a reconnecting member still counts as present: it may send commands and fills a place', () => {
    const session = openSession({}, [['p1', 'participant']]);
    session.ok(SYSTEM, { type: 'set_presence', participant: 'p1', presence: 'reconnecting' });
    session.ok(participant('p1'), { type: 'raise_hand' });
    session.ok(host, { type: 'update_settings', settings: { maxParticipants: 2, lobby: false } });
    session.refused(participant('p2'), { type: 'join', name: 'Pat' }, 'session_full');
  });
});
