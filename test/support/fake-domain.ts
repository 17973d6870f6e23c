/** A small stand-in for the conference domain (src/conference, being written
 *  on its own branch), enough for SDK tests: each Command becomes element
 *  updates under model.ts's key layout, with the main permission rules (only
 *  hosts and moderators act on others, viewers do not publish, locked and
 *  ended sessions refuse joins). Not the real permission table. */

import {
  type Command,
  type CommandError,
  type CommandErrorCode,
  DEFAULT_SETTINGS,
  type ElementUpdate,
  type ParticipantValue,
  type PhaseValue,
  type Plan,
  type Role,
  type RoleValue,
  type SessionSettings,
  type TrackKind,
  type TrackValue,
  keys,
} from '../../src/conference/model.ts';
import type { JsonValue } from '../../src/core/value.ts';

export interface FakeActor {
  readonly participant: string;
  /** The token's role; a service acts with it in any session. */
  readonly tokenRole: Role;
  readonly service: boolean;
}

/** Reads one element's value (null when absent or deleted). */
export type ReadElement = (key: string) => JsonValue | null;

/** Everything participant-shaped in a session, for mute_all and capacity. */
export type ListParticipants = () => { readonly id: string; readonly value: ParticipantValue }[];

const refuse = (code: CommandErrorCode, message: string): Plan => ({ ok: false, error: { code, message } as CommandError });
const plan = (...updates: ElementUpdate[]): Plan => ({ ok: true, updates });
const json = (value: object): JsonValue => value as unknown as JsonValue;

interface Context {
  readonly read: ReadElement;
  readonly list: ListParticipants;
  readonly actor: FakeActor;
  readonly session: string;
  readonly nowMs: number;
  readonly role: Role;
  readonly moderator: boolean;
  readonly self: ParticipantValue | null;
  readonly settings: SessionSettings;
  readonly phase: PhaseValue['phase'];
}

/** What `command` by `actor` in `session` becomes, or why it is refused. */
export function planCommand(read: ReadElement, list: ListParticipants, actor: FakeActor, session: string, command: Command, nowMs: number): Plan {
  if (command.type === 'create') return planCreate(read, actor, session, command, nowMs);
  if (read(keys.meta(session)) === null) return refuse('not_found', `session ${session} does not exist`);
  const phase = (read(keys.phase(session)) as unknown as PhaseValue).phase;
  if (phase === 'ended') return refuse('session_ended', `session ${session} has ended`);
  const self = read(keys.participant(session, actor.participant)) as unknown as ParticipantValue | null;
  const roleValue = read(keys.role(session, actor.participant)) as unknown as RoleValue | null;
  const role = actor.service ? actor.tokenRole : (roleValue?.role ?? actor.tokenRole);
  const settings = { ...DEFAULT_SETTINGS, ...(read(keys.settings(session)) as unknown as Partial<SessionSettings>) };
  const context: Context = { read, list, actor, session, nowMs, role, moderator: role === 'host' || role === 'moderator', self, settings, phase };
  if (command.type === 'join') return planJoin(context, command.name);
  if (command.type === 'leave' && self !== null) return plan(presence(context, actor.participant, 'left'));
  if (!actor.service && self?.presence !== 'joined') return refuse('not_member', `${actor.participant} is not present in session ${session}`);
  return planMemberCommand(context, command);
}

function planCreate(read: ReadElement, actor: FakeActor, session: string, command: Extract<Command, { type: 'create' }>, nowMs: number): Plan {
  if (read(keys.meta(session)) !== null) return refuse('already_exists', `session ${session} already exists`);
  if (actor.tokenRole !== 'host') return refuse('forbidden', `a ${actor.tokenRole} may not create a session`);
  const scheduledAtMs = command.scheduledAtMs ?? null;
  return plan(
    { key: keys.meta(session), value: json({ title: command.title ?? session, organizer: actor.participant, createdAtMs: nowMs, scheduledAtMs }) },
    { key: keys.settings(session), value: json({ ...DEFAULT_SETTINGS, ...command.settings }) },
    { key: keys.phase(session), value: json({ phase: scheduledAtMs === null ? 'open' : 'scheduled', by: actor.participant }) },
    { key: keys.recording(session), value: json({ active: false, by: actor.participant, sinceMs: null }) },
    { key: keys.engine(session), value: json({ engine: command.engine ?? null }) },
  );
}

function planJoin(c: Context, name: string): Plan {
  const { actor, session } = c;
  if (c.self?.presence === 'denied' || c.self?.presence === 'kicked') return refuse('forbidden', `${actor.participant} was ${c.self.presence} and may not rejoin`);
  if (c.phase === 'locked') return refuse('session_locked', `session ${session} is locked`);
  const present = c.list().filter((p) => p.value.presence === 'joined' || p.value.presence === 'reconnecting').length;
  if (present >= c.settings.maxParticipants) return refuse('session_full', `session ${session} has ${present} of ${c.settings.maxParticipants} participants`);
  const lobby = c.settings.lobby && actor.tokenRole !== 'host' && actor.tokenRole !== 'moderator';
  const joinedAtMs = c.self?.joinedAtMs ?? c.nowMs;
  return plan(
    { key: keys.participant(session, actor.participant), value: json({ name, presence: lobby ? 'lobby' : 'joined', joinedAtMs }) },
    { key: keys.role(session, actor.participant), value: json({ role: actor.tokenRole, by: actor.participant }) },
  );
}

function planMemberCommand(c: Context, command: Command): Plan {
  const { session, actor } = c;
  const me = actor.participant;
  const needModerator = (): Plan | undefined => (c.moderator ? undefined : refuse('forbidden', `a ${c.role} may not ${command.type}`));
  switch (command.type) {
    case 'open':
      return needModerator() ?? plan(phase(c, 'open'));
    case 'admit':
    case 'deny':
      return needModerator() ?? inLobby(c, command.participant) ?? plan(presence(c, command.participant, command.type === 'admit' ? 'joined' : 'denied'));
    case 'kick':
      return needModerator() ?? exists(c, command.participant) ?? plan(presence(c, command.participant, 'kicked'));
    case 'leave':
      return plan(presence(c, me, 'left'));
    case 'mute':
    case 'unmute':
      return planMute(c, command.participant, command.kind ?? 'audio', command.type === 'mute');
    case 'mute_all':
      return needModerator() ?? planMuteAll(c);
    case 'raise_hand':
      return plan({ key: keys.hand(session, me), value: json({ raisedAtMs: c.nowMs }) });
    case 'lower_hand': {
      const target = command.participant ?? me;
      return (target === me ? undefined : needModerator()) ?? plan({ key: keys.hand(session, target), value: null });
    }
    case 'set_role':
      if (c.role !== 'host') return refuse('forbidden', `a ${c.role} may not set roles`);
      return exists(c, command.participant) ?? plan({ key: keys.role(session, command.participant), value: json({ role: command.role, by: me }) });
    case 'publish_track':
      if (c.role === 'viewer') return refuse('forbidden', `a viewer may not publish ${command.kind}`);
      if (command.kind === 'screen' && c.settings.screenShare === 'moderators' && !c.moderator) return refuse('forbidden', 'only moderators may share their screen');
      return plan(track(c, me, command.kind, { published: true, muted: command.muted ?? false, mutedBy: null }));
    case 'unpublish_track': {
      const held = trackOf(c, me, command.kind);
      return plan(track(c, me, command.kind, { published: false, muted: held?.muted ?? false, mutedBy: held?.mutedBy ?? null }));
    }
    case 'lock':
    case 'unlock':
      return needModerator() ?? plan(phase(c, command.type === 'lock' ? 'locked' : 'open'));
    case 'start_recording':
    case 'stop_recording': {
      const active = command.type === 'start_recording';
      return needModerator() ?? plan({ key: keys.recording(session), value: json({ active, by: me, sinceMs: active ? c.nowMs : null }) });
    }
    case 'update_settings':
      if (c.role !== 'host') return refuse('forbidden', `a ${c.role} may not change settings`);
      return plan({ key: keys.settings(session), value: json({ ...c.settings, ...command.settings }) });
    case 'set_engine':
      if (!actor.service) return refuse('forbidden', 'set_engine is sent by service actors only, not by a participant');
      return plan({ key: keys.engine(session), value: json({ engine: command.engine }) });
    case 'end':
      return c.role === 'host' ? plan(phase(c, 'ended')) : refuse('forbidden', `a ${c.role} may not end the session`);
    case 'set_presence':
      return refuse('forbidden', 'set_presence is sent by the server itself');
    default:
      return refuse('invalid_command', `${command.type} is not a command here`);
  }
}

function planMute(c: Context, target: string, kind: TrackKind, muted: boolean): Plan {
  const me = c.actor.participant;
  const held = trackOf(c, target, kind);
  if (target !== me && !c.moderator) return refuse('forbidden', `a ${c.role} may only ${muted ? 'mute' : 'unmute'} itself`);
  if (!muted && target === me && !c.moderator && held?.mutedBy && !c.settings.selfUnmute) {
    return refuse('forbidden', `${me} was muted by ${held.mutedBy} and selfUnmute is off`);
  }
  return plan(track(c, target, kind, { published: held?.published ?? false, muted, mutedBy: muted && target !== me ? me : null }));
}

function planMuteAll(c: Context): Plan {
  const updates: ElementUpdate[] = [];
  for (const { id, value } of c.list()) {
    if (value.presence !== 'joined' || id === c.actor.participant) continue;
    const role = (c.read(keys.role(c.session, id)) as unknown as RoleValue | null)?.role;
    if (role === 'host' || role === 'moderator') continue;
    const held = trackOf(c, id, 'audio');
    if (held !== null && !held.muted) updates.push(track(c, id, 'audio', { ...held, muted: true, mutedBy: c.actor.participant }));
  }
  return plan(...updates);
}

function trackOf(c: Context, participant: string, kind: TrackKind): TrackValue | null {
  return c.read(keys.track(c.session, participant, kind)) as unknown as TrackValue | null;
}

function track(c: Context, participant: string, kind: TrackKind, value: TrackValue): ElementUpdate {
  return { key: keys.track(c.session, participant, kind), value: json(value) };
}

function phase(c: Context, next: PhaseValue['phase']): ElementUpdate {
  return { key: keys.phase(c.session), value: json({ phase: next, by: c.actor.participant }) };
}

function presence(c: Context, participant: string, next: ParticipantValue['presence']): ElementUpdate {
  const held = c.read(keys.participant(c.session, participant)) as unknown as ParticipantValue;
  return { key: keys.participant(c.session, participant), value: json({ ...held, presence: next }) };
}

function exists(c: Context, participant: string): Plan | undefined {
  return c.read(keys.participant(c.session, participant)) === null ? refuse('not_found', `${participant} is not in session ${c.session}`) : undefined;
}

function inLobby(c: Context, participant: string): Plan | undefined {
  const held = c.read(keys.participant(c.session, participant)) as unknown as ParticipantValue | null;
  return held?.presence === 'lobby' ? undefined : refuse('invalid_command', `${participant} is not waiting in the lobby of session ${c.session}`);
}
