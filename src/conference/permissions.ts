/** Who may send which command: the one permission table, as data, with the
 *  named conditions it refers to and their evaluation. commands.ts takes every
 *  allow/forbid decision from here; docs/CONFERENCE.md prints the table.
 *  This file does not know how a command becomes element updates. Pure. */

import { assert } from '../core/assert.ts';
import { participantOf } from './mirror.ts';
import type { Actor, CommandType, Presence, Role, SessionSettings, SessionView, TrackKind } from './model.ts';

export type ActorKind = Actor['kind'];

/**
 * Whom a rule lets the actor act on. The target is the participant a command
 * names (`participant`), or the actor itself when it names none.
 * `any`: anyone, itself included; `self`: only itself; `others`: anyone but
 * itself; `none`: nobody (refused).
 */
export type Scope = 'any' | 'self' | 'others' | 'none';

/** The named conditions a rule may add, each with the sentence the docs print. */
export const CONDITIONS = {
  service: 'the actor is a service (a trusted backend), not a participant',
  notHost: 'the target is not a host',
  selfUnmute: 'the track was not muted by someone else, or `settings.selfUnmute` is on',
  screenShare: 'audio and video always; screen only when `settings.screenShare` is `everyone`',
  keepsHost: 'a host demoting itself is not the last host present (joined or reconnecting)',
  belowModerator: 'the target is a participant or viewer, and so is the new role',
  notRemoved: 'the participant was not kicked or denied before (they may not come back)',
} as const;
export type Condition = keyof typeof CONDITIONS;

export interface Rule {
  readonly scope: Scope;
  /** Must also hold; absent: none. */
  readonly condition?: Condition;
}

export interface CommandPermission {
  /** Actor kinds that may send the command at all; any other kind is refused whatever its role. */
  readonly actors: readonly ActorKind[];
  /** The rule for the actor's effective role (`effectiveRole`). */
  readonly roles: Readonly<Record<Role, Rule>>;
  readonly note: string;
}

const YES: Rule = { scope: 'any' };
const NO: Rule = { scope: 'none' };
const SELF: Rule = { scope: 'self' };
const PARTICIPANT: readonly ActorKind[] = ['participant'];
const MEMBERS_AND_SERVICES: readonly ActorKind[] = ['participant', 'service'];

/** Host and moderator yes, participant and viewer no: the moderation commands. */
const MODERATORS: Readonly<Record<Role, Rule>> = { host: YES, moderator: YES, participant: NO, viewer: NO };
const HOST_ONLY: Readonly<Record<Role, Rule>> = { host: YES, moderator: NO, participant: NO, viewer: NO };
const EVERYONE_SELF: Readonly<Record<Role, Rule>> = { host: SELF, moderator: SELF, participant: SELF, viewer: SELF };
const EVERYONE: Readonly<Record<Role, Rule>> = { host: YES, moderator: YES, participant: YES, viewer: YES };

/** THE permission table. Rows in the order the docs print them. */
export const PERMISSIONS: Readonly<Record<CommandType, CommandPermission>> = {
  create: {
    actors: MEMBERS_AND_SERVICES,
    roles: { host: YES, moderator: { scope: 'any', condition: 'service' }, participant: NO, viewer: NO },
    note: 'A participant needs a host token for that session; the creator is not joined by it.',
  },
  open: { actors: MEMBERS_AND_SERVICES, roles: HOST_ONLY, note: 'Scheduled → open.' },
  join: {
    actors: PARTICIPANT,
    roles: {
      host: { scope: 'self', condition: 'notRemoved' },
      moderator: { scope: 'self', condition: 'notRemoved' },
      participant: { scope: 'self', condition: 'notRemoved' },
      viewer: { scope: 'self', condition: 'notRemoved' },
    },
    note: 'Participants and viewers wait in the lobby when it is on or the session is scheduled; a locked session takes no new ones.',
  },
  admit: { actors: MEMBERS_AND_SERVICES, roles: MODERATORS, note: 'Lobby → joined, within `maxParticipants`.' },
  deny: { actors: MEMBERS_AND_SERVICES, roles: MODERATORS, note: 'Lobby → denied; a denied participant may not rejoin.' },
  leave: { actors: PARTICIPANT, roles: EVERYONE_SELF, note: 'From the lobby too; lowers the hand and unpublishes tracks.' },
  kick: {
    actors: MEMBERS_AND_SERVICES,
    roles: { host: { scope: 'others' }, moderator: { scope: 'others', condition: 'notHost' }, participant: NO, viewer: NO },
    note: 'A kicked participant may not rejoin; lowers the hand and unpublishes tracks.',
  },
  mute: {
    actors: MEMBERS_AND_SERVICES,
    roles: { host: YES, moderator: { scope: 'any', condition: 'notHost' }, participant: SELF, viewer: SELF },
    note: 'Muting someone else records who did (`mutedBy`).',
  },
  unmute: {
    actors: PARTICIPANT,
    roles: { host: SELF, moderator: SELF, participant: { scope: 'self', condition: 'selfUnmute' }, viewer: NO },
    note: 'Nobody unmutes someone else’s microphone (privacy).',
  },
  mute_all: { actors: MEMBERS_AND_SERVICES, roles: MODERATORS, note: 'Audio of present participants and viewers; hosts, moderators and the actor keep theirs.' },
  raise_hand: { actors: PARTICIPANT, roles: EVERYONE_SELF, note: 'Present members only; hands are ordered by when they were raised.' },
  lower_hand: {
    actors: MEMBERS_AND_SERVICES,
    roles: { host: YES, moderator: YES, participant: SELF, viewer: SELF },
    note: 'Without `participant`: the actor’s own hand.',
  },
  set_role: {
    actors: MEMBERS_AND_SERVICES,
    roles: { host: { scope: 'any', condition: 'keepsHost' }, moderator: { scope: 'any', condition: 'belowModerator' }, participant: NO, viewer: NO },
    note: 'Becoming a viewer unpublishes audio, video and screen.',
  },
  publish_track: {
    actors: PARTICIPANT,
    roles: { host: SELF, moderator: SELF, participant: { scope: 'self', condition: 'screenShare' }, viewer: NO },
    note: 'A track muted by someone else stays muted unless `selfUnmute` is on (hosts and moderators excepted).',
  },
  unpublish_track: { actors: PARTICIPANT, roles: EVERYONE_SELF, note: 'Keeps the mute state.' },
  lock: { actors: MEMBERS_AND_SERVICES, roles: MODERATORS, note: 'Open → locked: no new participants or viewers join.' },
  unlock: { actors: MEMBERS_AND_SERVICES, roles: MODERATORS, note: 'Locked → open.' },
  start_recording: { actors: MEMBERS_AND_SERVICES, roles: MODERATORS, note: 'Records who started it and since when.' },
  stop_recording: { actors: MEMBERS_AND_SERVICES, roles: MODERATORS, note: 'Records who stopped it.' },
  update_settings: { actors: MEMBERS_AND_SERVICES, roles: HOST_ONLY, note: 'Merged into the current settings; applies to later commands.' },
  set_engine: { actors: ['service'], roles: EVERYONE, note: 'The media engine hosting the session, or none.' },
  set_presence: { actors: ['system'], roles: EVERYONE, note: 'Sent by the server when a member’s last connection drops or comes back.' },
  end: { actors: MEMBERS_AND_SERVICES, roles: HOST_ONLY, note: 'Final: every later command is refused `session_ended`.' },
};

/**
 * The role an actor acts with in `view`. A participant: its stored role
 * (`role/{pid}`) when one is stored, else its token role (also when `view` is
 * undefined or it is not a member yet). A service: its token role. The system
 * actor: its token role too, but the table's `actors` lets it send only
 * `set_presence`, where every role is allowed.
 */
export function effectiveRole(view: SessionView | undefined, actor: Actor): Role {
  if (actor.kind !== 'participant' || view === undefined) return actor.tokenRole;
  const self = participantOf(view, actor.id);
  return self !== undefined && self.roleStored ? self.role : actor.tokenRole;
}

/** What a rule's scope and condition are judged on. commands.ts gathers it from the view. */
export interface PermissionFacts {
  readonly actor: Actor;
  readonly role: Role;
  /** The target is the actor itself (always true for commands without a target). */
  readonly self: boolean;
  readonly targetRole?: Role | undefined;
  readonly targetPresence?: Presence | undefined;
  readonly settings?: SessionSettings | undefined;
  readonly kind?: TrackKind | undefined;
  /** The track named by the command was muted by someone other than its owner. */
  readonly mutedByOther?: boolean | undefined;
  readonly newRole?: Role | undefined;
  /** Hosts present (joined or reconnecting) other than the target. */
  readonly otherHostsPresent?: number | undefined;
}

export type PermissionDecision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/**
 * The part of the table that needs no facts: the actor kind is not listed for
 * `type`, or the role's scope is `none`. Returns the reason, or undefined when
 * the rest depends on the target and the conditions (`decide`).
 */
export function refusedOutright(type: CommandType, actor: Actor, role: Role): string | undefined {
  const permission = PERMISSIONS[type];
  if (!permission.actors.includes(actor.kind)) return `${type} is sent by ${permission.actors.join(' or ')} actors only, not by a ${actor.kind}`;
  if (permission.roles[role].scope === 'none') return `a ${role} may not ${type}`;
  return undefined;
}

/**
 * Decides `type` for the facts by the table alone: the actor kind must be
 * listed, the role's scope must admit the target, and its condition must hold.
 * A refusal carries a reason naming the rule. Asserts that the facts a
 * condition needs were given (a missing fact is a bug in the caller).
 */
export function decide(type: CommandType, facts: PermissionFacts): PermissionDecision {
  const outright = refusedOutright(type, facts.actor, facts.role);
  if (outright !== undefined) return { allowed: false, reason: outright };
  const rule = PERMISSIONS[type].roles[facts.role];
  if (rule.scope === 'self' && !facts.self) return { allowed: false, reason: `a ${facts.role} may ${type} only itself` };
  if (rule.scope === 'others' && facts.self) return { allowed: false, reason: `nobody may ${type} themselves` };
  if (rule.condition !== undefined && !conditionHolds(rule.condition, facts)) {
    return { allowed: false, reason: `a ${facts.role} may ${type} only if ${CONDITIONS[rule.condition]}` };
  }
  return ALLOWED;
}

const ALLOWED: PermissionDecision = Object.freeze({ allowed: true });

function conditionHolds(condition: Condition, facts: PermissionFacts): boolean {
  const need = <T>(value: T | undefined, name: string): T => {
    assert(value !== undefined, `condition ${condition} needs the fact ${name}`);
    return value;
  };
  switch (condition) {
    case 'service':
      return facts.actor.kind === 'service';
    case 'notHost':
      return need(facts.targetRole, 'targetRole') !== 'host';
    case 'selfUnmute':
      return !need(facts.mutedByOther, 'mutedByOther') || need(facts.settings, 'settings').selfUnmute;
    case 'screenShare':
      return need(facts.kind, 'kind') !== 'screen' || need(facts.settings, 'settings').screenShare === 'everyone';
    case 'keepsHost':
      return !(facts.self && need(facts.targetRole, 'targetRole') === 'host' && need(facts.newRole, 'newRole') !== 'host' && need(facts.otherHostsPresent, 'otherHostsPresent') === 0);
    case 'belowModerator': {
      const lower = (role: Role): boolean => role === 'participant' || role === 'viewer';
      return lower(need(facts.targetRole, 'targetRole')) && lower(need(facts.newRole, 'newRole'));
    }
    case 'notRemoved': {
      const presence = facts.targetPresence;
      return presence !== 'kicked' && presence !== 'denied';
    }
  }
}

function ruleText(rule: Rule): string {
  const scope = { any: 'yes', self: 'self', others: 'others', none: 'no' }[rule.scope];
  return rule.condition === undefined ? scope : `${scope}, if \`${rule.condition}\``;
}

/**
 * The permission table as markdown: one row per command (who may send it,
 * the rule per role, a note), then the conditions. Deterministic: the same
 * table always renders the same text, which the docs test compares with
 * docs/CONFERENCE.md.
 */
export function permissionTableMarkdown(): string {
  const roles: readonly Role[] = ['host', 'moderator', 'participant', 'viewer'];
  const lines = [
    `| command | sent by | ${roles.join(' | ')} | note |`,
    `| --- | --- | ${roles.map(() => '---').join(' | ')} | --- |`,
  ];
  for (const [type, permission] of Object.entries(PERMISSIONS) as [CommandType, CommandPermission][]) {
    const cells = roles.map((role) => ruleText(permission.roles[role]));
    lines.push(`| \`${type}\` | ${permission.actors.join(', ')} | ${cells.join(' | ')} | ${permission.note} |`);
  }
  lines.push('', 'Scopes: **yes** anyone, the actor included; **self** only the actor itself; **others** anyone but the actor; **no** nobody.', '', 'Conditions:', '');
  for (const [name, text] of Object.entries(CONDITIONS)) lines.push(`- \`${name}\`: ${text}.`);
  return `${lines.join('\n')}\n`;
}
