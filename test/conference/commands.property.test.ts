/** Property tests of planCommand and SessionMirror: random command histories
 *  from random actors, each accepted plan applied with increasing timestamps,
 *  checked after every step against the key layout and the view invariants;
 *  order-independence of the mirror; disjoint keys for self-commands. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planCommand } from '../../src/conference/commands.ts';
import { SessionMirror } from '../../src/conference/mirror.ts';
import type { Actor, Command, CommandErrorCode, ElementState, Presence, SessionView, TrackKind } from '../../src/conference/model.ts';
import { propertyOptions } from '../support/property.ts';
import { PARTICIPANT_IDS, TOKEN_ROLE_OF, actorArbitrary, changesArbitrary, commandArbitrary, layoutProblem, malformedCommandArbitrary, settingsArbitrary } from './arbitraries.ts';

const SESSION = 's1';
const CODES: readonly CommandErrorCode[] = ['invalid_command', 'forbidden', 'not_found', 'already_exists', 'session_ended', 'session_locked', 'session_full', 'not_member'];

const present = (presence: Presence): boolean => presence === 'joined' || presence === 'reconnecting';

/** Everything a view must satisfy after any history of accepted commands (each applied whole). */
function checkViewInvariants(view: SessionView): void {
  const ids = view.participants.map((p) => p.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect(new Set(view.hands).size).toBe(view.hands.length);
  for (const participant of view.participants) {
    // The hand queue and each participant's position in it tell the same story.
    expect(participant.handPosition).toBe(view.hands.includes(participant.id) ? view.hands.indexOf(participant.id) : null);
    // Only present members hold a raised hand: the lobby, the denied, the departed never do.
    if (participant.handPosition !== null) expect(present(participant.presence)).toBe(true);
    // A published track belongs to a present member who is not a viewer.
    for (const track of Object.values(participant.tracks)) {
      if (track.published) {
        expect(present(participant.presence)).toBe(true);
        expect(participant.role).not.toBe('viewer');
      }
      if (!track.muted) expect(track.mutedBy).toBeNull();
    }
    // join writes the role with the participant: a member always has one stored.
    expect(participant.roleStored).toBe(true);
  }
  for (const id of view.hands) expect(ids).toContain(id);
}

interface Step {
  readonly actor: Actor;
  readonly command: Command;
}

const stepArbitrary: fc.Arbitrary<Step> = fc.record({
  actor: actorArbitrary,
  command: fc.oneof({ weight: 12, arbitrary: commandArbitrary }, { weight: 1, arbitrary: malformedCommandArbitrary }),
});

/**
 * Most histories start with a populated session — created, everyone joined
 * with their usual token role and admitted by h1 where the settings allow — so
 * most steps exercise more than not_found and not_member.
 */
const historyArbitrary = fc.tuple(fc.nat(9), settingsArbitrary, fc.array(stepArbitrary, { maxLength: 60 })).map(([start, settings, steps]) => {
  if (start === 0) return steps;
  const prefix: Step[] = [{ actor: { kind: 'service', id: 'backend', tokenRole: 'host' }, command: { type: 'create', settings } }];
  for (const id of PARTICIPANT_IDS) {
    prefix.push({ actor: { kind: 'participant', id, tokenRole: TOKEN_ROLE_OF[id] }, command: { type: 'join', name: id } });
    prefix.push({ actor: { kind: 'participant', id: 'h1', tokenRole: 'host' }, command: { type: 'admit', participant: id } });
  }
  return [...prefix, ...steps];
});

function runHistory(steps: readonly Step[]): void {
  const mirror = new SessionMirror(SESSION);
  let ts = 0;
  let nowMs = 1_000;
  const removed = new Map<string, Presence>();
  let ended = false;
  for (const { actor, command } of steps) {
    const before = mirror.view();
    const plan = planCommand(before, SESSION, actor, command, nowMs);
    nowMs += 250;
    if (!plan.ok) {
      expect(Object.keys(plan)).toEqual(['ok', 'error']); // a refusal carries no updates
      expect(CODES).toContain(plan.error.code);
      expect(plan.error.message.length).toBeGreaterThan(0);
      continue;
    }
    for (const update of plan.updates) expect(layoutProblem(SESSION, update.key, update.value)).toBeUndefined();
    expect(new Set(plan.updates.map((u) => u.key)).size).toBe(plan.updates.length); // one write per key per command
    for (const update of plan.updates) mirror.apply({ key: update.key, ts: ++ts, value: update.value });
    const view = mirror.view();
    if (view === undefined) {
      expect(plan.updates).toEqual([]);
      continue;
    }
    checkViewInvariants(view);
    // Ended is final; kicked and denied are final.
    if (ended) expect(view.phase).toBe('ended');
    ended = view.phase === 'ended';
    for (const [id, presence] of removed) expect(view.participants.find((p) => p.id === id)!.presence).toBe(presence);
    for (const p of view.participants) if (p.presence === 'kicked' || p.presence === 'denied') removed.set(p.id, p.presence);
    // Without selfUnmute, what someone else muted stays muted whatever its owner (not a host or moderator) does.
    if (before !== undefined && !before.settings.selfUnmute && actor.kind === 'participant') {
      const owner = before.participants.find((p) => p.id === actor.id);
      if (owner !== undefined && owner.role !== 'host' && owner.role !== 'moderator') {
        for (const [kind, track] of Object.entries(owner.tracks)) {
          if (track.muted && track.mutedBy !== null && track.mutedBy !== actor.id) {
            expect(view.participants.find((p) => p.id === actor.id)!.tracks[kind as TrackKind]!.muted).toBe(true);
          }
        }
      }
    }
    // A command that lets someone in never goes past maxParticipants.
    const presentBefore = before?.participants.filter((p) => present(p.presence)).length ?? 0;
    const presentAfter = view.participants.filter((p) => present(p.presence)).length;
    if (presentAfter > presentBefore) expect(presentAfter).toBeLessThanOrEqual(view.settings.maxParticipants);
  }
}

describe('planCommand properties', () => {
  it('planCommand: random histories from random actors never throw, write only the key layout of their session, and keep the view invariants', () => {
    fc.assert(fc.property(historyArbitrary, runHistory), propertyOptions());
  });

  it('planCommand: two participants muting, unmuting, publishing and raising hands themselves write disjoint keys, each its own', () => {
    const selfCommand = (id: string): fc.Arbitrary<Command> =>
      fc.oneof(
        fc.constantFrom<Command>({ type: 'mute', participant: id }, { type: 'unmute', participant: id }, { type: 'raise_hand' }, { type: 'lower_hand' }),
        fc.constantFrom('audio' as const, 'video' as const, 'screen' as const).chain((kind) =>
          fc.constantFrom<Command>({ type: 'publish_track', kind }, { type: 'unpublish_track', kind }, { type: 'mute', participant: id, kind }, { type: 'unmute', participant: id, kind }),
        ),
      );
    const step = fc.oneof(selfCommand('p1').map((command) => ['p1', command] as const), selfCommand('p2').map((command) => ['p2', command] as const));
    fc.assert(
      fc.property(settingsArbitrary, fc.array(step, { maxLength: 40 }), (settings, steps) => {
        const mirror = new SessionMirror(SESSION);
        let ts = 0;
        const apply = (actor: Actor, command: Command): readonly string[] => {
          const plan = planCommand(mirror.view(), SESSION, actor, command, 1000 + ts);
          if (!plan.ok) return [];
          for (const update of plan.updates) mirror.apply({ key: update.key, ts: ++ts, value: update.value });
          return plan.updates.map((u) => u.key);
        };
        apply({ kind: 'service', id: 'backend', tokenRole: 'host' }, { type: 'create', settings: { ...settings, lobby: false, maxParticipants: 10 } });
        apply({ kind: 'participant', id: 'p1', tokenRole: 'participant' }, { type: 'join', name: 'One' });
        apply({ kind: 'participant', id: 'p2', tokenRole: 'participant' }, { type: 'join', name: 'Two' });
        const written = { p1: new Set<string>(), p2: new Set<string>() };
        for (const [id, command] of steps) {
          for (const key of apply({ kind: 'participant', id, tokenRole: 'participant' }, command)) written[id].add(key);
        }
        for (const key of written.p1) expect(written.p2.has(key)).toBe(false);
        for (const [id, keys] of Object.entries(written)) for (const key of keys) expect(key.split('/')[3]).toBe(id);
      }),
      propertyOptions(),
    );
  });
});

/**
 * The commands a retry cannot complete when their updates landed out of list
 * order (docs/CONFERENCE.md, "What is not atomic"): the write that refuses a
 * repeat landed while an earlier one did not.
 */
function retryCannotComplete(actor: Actor, command: Command, written: readonly string[]): boolean {
  if (command.type === 'create') return written.includes(`s/${SESSION}/meta`);
  if (command.type === 'end') return written.includes(`s/${SESSION}/phase`);
  if (command.type === 'set_role') return command.participant === actor.id && written.includes(`s/${SESSION}/role/${actor.id}`);
  return false;
}

describe('planCommand properties: retries', () => {
  it('planCommand: sending a command again right after it was applied changes nothing; after only part of its writes were applied, completes it', () => {
    const cuts = fc.array(fc.tuple(fc.constantFrom('whole' as const, 'prefix' as const, 'subset' as const), fc.nat()), { minLength: 100, maxLength: 100 });
    fc.assert(
      fc.property(historyArbitrary, cuts, (steps, cut) => {
        const whole = new SessionMirror(SESSION);
        const partial = new SessionMirror(SESSION);
        let ts = 0;
        steps.forEach(({ actor, command }, i) => {
          const nowMs = 1000 + i;
          const plan = planCommand(whole.view(), SESSION, actor, command, nowMs);
          if (!plan.ok) return;
          for (const update of plan.updates) whole.apply({ key: update.key, ts: ++ts, value: update.value });
          const again = planCommand(whole.view(), SESSION, actor, command, nowMs);
          expect(again.ok ? again.updates : []).toEqual([]);
          // The same command on the other mirror, cut short after a prefix or a random subset of its writes, then sent again.
          expect(planCommand(partial.view(), SESSION, actor, command, nowMs)).toEqual(plan);
          const [mode, bits] = cut[i % cut.length]!;
          const written =
            mode === 'whole' ? plan.updates : mode === 'prefix' ? plan.updates.slice(0, bits % (plan.updates.length + 1)) : plan.updates.filter((_, j) => ((bits >>> j % 30) & 1) === 1);
          for (const update of written) partial.apply({ key: update.key, ts: ++ts, value: update.value });
          const retry = planCommand(partial.view(), SESSION, actor, command, nowMs);
          if (retry.ok) for (const update of retry.updates) partial.apply({ key: update.key, ts: ++ts, value: update.value });
          else if (written.length < plan.updates.length) {
            // Only the documented exceptions, and never after a prefix.
            expect(mode).toBe('subset');
            expect(retryCannotComplete(actor, command, written.map((u) => u.key))).toBe(true);
            partial.load(whole.elements());
          }
          expect(partial.view()).toEqual(whole.view());
        });
      }),
      propertyOptions(),
    );
  });
});

describe('planCommand properties: moderation holds', () => {
  it('planCommand: without selfUnmute, a participant muted by a host stays muted whatever it and other non-moderators send', () => {
    const nonModerator = fc.constantFrom<Actor>(
      { kind: 'participant', id: 'p1', tokenRole: 'participant' },
      { kind: 'participant', id: 'p1', tokenRole: 'host' }, // the stored role wins over the token
      { kind: 'participant', id: 'p2', tokenRole: 'participant' },
      { kind: 'participant', id: 'v1', tokenRole: 'viewer' },
    );
    fc.assert(
      fc.property(fc.constantFrom<Command>({ type: 'mute', participant: 'p1' }, { type: 'mute_all' }), fc.array(fc.record({ actor: nonModerator, command: commandArbitrary }), { maxLength: 40 }), (muteBy, steps) => {
        const mirror = new SessionMirror(SESSION);
        let ts = 0;
        const run = (actor: Actor, command: Command): void => {
          const plan = planCommand(mirror.view(), SESSION, actor, command, 1000 + ts);
          if (plan.ok) for (const update of plan.updates) mirror.apply({ key: update.key, ts: ++ts, value: update.value });
        };
        const host: Actor = { kind: 'participant', id: 'h1', tokenRole: 'host' };
        run({ kind: 'service', id: 'backend', tokenRole: 'host' }, { type: 'create', settings: { lobby: false, selfUnmute: false } });
        run(host, { type: 'join', name: 'Host' });
        run({ kind: 'participant', id: 'p1', tokenRole: 'participant' }, { type: 'join', name: 'One' });
        run({ kind: 'participant', id: 'p1', tokenRole: 'participant' }, { type: 'publish_track', kind: 'audio' });
        run(host, muteBy);
        for (const { actor, command } of steps) {
          run(actor, command);
          expect(mirror.view()!.participants.find((p) => p.id === 'p1')!.tracks.audio).toMatchObject({ muted: true, mutedBy: 'h1' });
        }
      }),
      propertyOptions(),
    );
  });
});

describe('SessionMirror properties', () => {
  it('SessionMirror: the same changes in any order, with duplicates, give an equal view (and equal to loading them at once)', () => {
    fc.assert(
      fc.property(changesArbitrary, fc.func(fc.integer()), fc.array(fc.nat(), { maxLength: 20 }), (changes, order, duplicates) => {
        const inOrder = new SessionMirror(SESSION);
        for (const change of changes) inOrder.apply(change);
        const shuffled = changes.map((change, i) => ({ change, rank: order(i) })).sort((a, b) => a.rank - b.rank).map((x) => x.change);
        const repeated: ElementState[] = [...shuffled];
        if (changes.length > 0) for (const d of duplicates) repeated.splice(d % (repeated.length + 1), 0, changes[d % changes.length]!);
        const other = new SessionMirror(SESSION);
        for (const change of repeated) other.apply(change);
        const loaded = new SessionMirror(SESSION);
        loaded.load(repeated);
        expect(other.view()).toEqual(inOrder.view());
        expect(loaded.view()).toEqual(inOrder.view());
        const view = inOrder.view();
        if (view !== undefined) {
          for (const p of view.participants) expect(p.handPosition).toBe(view.hands.includes(p.id) ? view.hands.indexOf(p.id) : null);
          expect(view.participants.every((p) => (PARTICIPANT_IDS as readonly string[]).includes(p.id))).toBe(true);
        }
      }),
      propertyOptions(),
    );
  });
});
