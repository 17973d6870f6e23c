/** The permission table and planCommand agree: for any command, actor kind,
 *  effective role, target (self or other) and the state the table's
 *  conditions look at, planCommand refuses `forbidden` exactly when the table
 *  says no. The table is read here by an interpreter of its own, not by
 *  permissions.ts's `decide`, so a planner that skips or adds a check fails. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planCommand } from '../../src/conference/commands.ts';
import { SessionMirror } from '../../src/conference/mirror.ts';
import { type Actor, type Command, type CommandType, type ElementState, type Presence, ROLES, type Role, TRACK_KINDS, type TrackKind, keys } from '../../src/conference/model.ts';
import { type Condition, PERMISSIONS } from '../../src/conference/permissions.ts';
import { propertyOptions } from '../support/property.ts';

const SESSION = 's1';
const ACTOR_ID = 'a';
const OTHER_ID = 'o';
const COMMAND_TYPES = Object.keys(PERMISSIONS) as CommandType[];

interface Scenario {
  readonly type: CommandType;
  readonly actorKind: Actor['kind'];
  /** The participant actor's stored role, or the service's / system's token role. */
  readonly role: Role;
  readonly tokenRole: Role;
  /** A participant actor's role element exists (else it acts with its token role). */
  readonly roleStored: boolean;
  /** The command names the actor itself (participant actors only). */
  readonly self: boolean;
  readonly otherRole: Role;
  readonly extraHost: boolean;
  /** The actor's presence, for join (every other command needs a present actor). */
  readonly joinPresence: Presence | 'absent';
  readonly selfUnmute: boolean;
  readonly screenShare: 'everyone' | 'moderators';
  readonly kind: TrackKind;
  /** Who muted the target's track: nobody (unmuted), the owner itself, or someone else. */
  readonly mutedBy: 'unmuted' | 'owner' | 'someone';
  readonly newRole: Role;
}

const scenarioArbitrary: fc.Arbitrary<Scenario> = fc.record({
  type: fc.constantFrom(...COMMAND_TYPES),
  actorKind: fc.constantFrom('participant' as const, 'participant' as const, 'service' as const, 'system' as const),
  role: fc.constantFrom(...ROLES),
  tokenRole: fc.constantFrom(...ROLES),
  roleStored: fc.boolean(),
  self: fc.boolean(),
  otherRole: fc.constantFrom(...ROLES),
  extraHost: fc.boolean(),
  joinPresence: fc.constantFrom('absent' as const, 'lobby' as const, 'joined' as const, 'left' as const, 'kicked' as const, 'denied' as const),
  selfUnmute: fc.boolean(),
  screenShare: fc.constantFrom('everyone' as const, 'moderators' as const),
  kind: fc.constantFrom(...TRACK_KINDS),
  mutedBy: fc.constantFrom('unmuted' as const, 'owner' as const, 'someone' as const),
  newRole: fc.constantFrom(...ROLES),
});

/** The view the scenario describes, written element by element. */
function viewOf(s: Scenario) {
  const mirror = new SessionMirror(SESSION);
  let ts = 0;
  const put = (key: string, value: ElementState['value']): void => void mirror.apply({ key, ts: ++ts, value });
  put(keys.meta(SESSION), { title: '', organizer: 'x', createdAtMs: 0, scheduledAtMs: null });
  put(keys.settings(SESSION), { lobby: true, maxParticipants: 50, selfUnmute: s.selfUnmute, screenShare: s.screenShare });
  put(keys.phase(SESSION), { phase: 'open', by: 'x' });
  const member = (id: string, role: Role | undefined, presence: Presence): void => {
    put(keys.participant(SESSION, id), { name: id, presence, joinedAtMs: 0 });
    if (role !== undefined) put(keys.role(SESSION, id), { role, by: 'x' });
  };
  if (s.actorKind === 'participant') {
    const presence = s.type === 'join' ? s.joinPresence : 'joined';
    if (presence !== 'absent') member(ACTOR_ID, s.roleStored ? s.role : undefined, presence);
  }
  member(OTHER_ID, s.otherRole, 'joined');
  if (s.extraHost) member('h', 'host', 'joined');
  const owner = targetId(s);
  const mutedBy = { unmuted: null, owner, someone: 'h' }[s.mutedBy];
  put(keys.track(SESSION, owner, s.kind), { published: true, muted: s.mutedBy !== 'unmuted', mutedBy: s.mutedBy === 'owner' ? null : mutedBy });
  put(keys.hand(SESSION, owner), { raisedAtMs: 0 });
  return mirror.view()!;
}

/** Services and the system are never a command's target: they are not members. */
function isSelf(s: Scenario): boolean {
  return s.actorKind === 'participant' && s.self;
}

function targetId(s: Scenario): string {
  return isSelf(s) ? ACTOR_ID : OTHER_ID;
}

/** The role the actor acts with, by the rule effectiveRole documents. */
function actingRole(s: Scenario): Role {
  if (s.actorKind !== 'participant' || s.type === 'create') return s.tokenRole;
  const known = s.type !== 'join' || s.joinPresence !== 'absent';
  return known && s.roleStored ? s.role : s.tokenRole;
}

function commandOf(s: Scenario): Command {
  const participant = targetId(s);
  switch (s.type) {
    case 'create':
      return { type: 'create' };
    case 'join':
      return { type: 'join', name: 'Ann' };
    case 'admit':
    case 'deny':
    case 'kick':
      return { type: s.type, participant };
    case 'mute':
    case 'unmute':
      return { type: s.type, participant, kind: s.kind };
    case 'lower_hand':
      return isSelf(s) ? { type: 'lower_hand' } : { type: 'lower_hand', participant };
    case 'set_role':
      return { type: 'set_role', participant, role: s.newRole };
    case 'publish_track':
    case 'unpublish_track':
      return { type: s.type, kind: s.kind };
    case 'update_settings':
      return { type: 'update_settings', settings: { lobby: false } };
    case 'set_engine':
      return { type: 'set_engine', engine: 'sfu-9' };
    case 'set_presence':
      return { type: 'set_presence', participant, presence: 'reconnecting' };
    default:
      return { type: s.type } as Command;
  }
}

/** Commands without a target act on the actor itself. */
const TARGETED = new Set<CommandType>(['admit', 'deny', 'kick', 'mute', 'unmute', 'lower_hand', 'set_role', 'set_presence']);

function conditionHolds(condition: Condition, s: Scenario): boolean {
  const self = !TARGETED.has(s.type) || isSelf(s);
  const targetRole = self ? actingRole(s) : s.otherRole;
  const lower = (role: Role): boolean => role === 'participant' || role === 'viewer';
  switch (condition) {
    case 'service':
      return s.actorKind === 'service';
    case 'notHost':
      return targetRole !== 'host';
    case 'selfUnmute':
      return s.mutedBy !== 'someone' || s.selfUnmute;
    case 'screenShare':
      return s.kind !== 'screen' || s.screenShare === 'everyone';
    case 'keepsHost': {
      const otherHosts = (s.otherRole === 'host' ? 1 : 0) + (s.extraHost ? 1 : 0);
      return !(self && targetRole === 'host' && s.newRole !== 'host' && otherHosts === 0);
    }
    case 'belowModerator':
      return lower(targetRole) && lower(s.newRole);
    case 'notRemoved':
      return s.joinPresence !== 'kicked' && s.joinPresence !== 'denied';
  }
}

/** What the table says, read independently of permissions.ts's decide. */
function tableAllows(s: Scenario): boolean {
  const permission = PERMISSIONS[s.type];
  if (!permission.actors.includes(s.actorKind)) return false;
  const rule = permission.roles[actingRole(s)];
  const self = !TARGETED.has(s.type) || isSelf(s);
  if (rule.scope === 'none' || (rule.scope === 'self' && !self) || (rule.scope === 'others' && self)) return false;
  return rule.condition === undefined || conditionHolds(rule.condition, s);
}

/** Every triple of values from `values`. */
function product3<T>(values: readonly T[]): [T, T, T][] {
  return values.flatMap((a) => values.flatMap((b) => values.map((c): [T, T, T] => [a, b, c])));
}

function check(s: Scenario): void {
  const actor: Actor = { kind: s.actorKind, id: ACTOR_ID, tokenRole: s.tokenRole };
  const plan = planCommand(viewOf(s), SESSION, actor, commandOf(s), 1000);
  const forbidden = !plan.ok && plan.error.code === 'forbidden';
  const allowed = tableAllows(s);
  if (forbidden === allowed) {
    expect.fail(`${JSON.stringify(s)}: the table says ${allowed ? 'yes' : 'no'}, planCommand answered ${JSON.stringify(plan)}`);
  }
}

describe('permission table ⇔ planCommand', () => {
  it('permissions: for random command, actor, role, target and state, forbidden happens iff the table says no', () => {
    fc.assert(fc.property(scenarioArbitrary, check), propertyOptions());
  });

  it('permissions: every command × actor kind × stored and token role × self/other × the other’s role agrees with the table (exhaustive)', () => {
    let cases = 0;
    for (const type of COMMAND_TYPES) {
      for (const actorKind of ['participant', 'service', 'system'] as const) {
        for (const [role, tokenRole, otherRole] of product3(ROLES)) {
          for (const [roleStored, self, extraHost] of product3([true, false])) {
            for (const newRole of type === 'set_role' ? ROLES : (['viewer'] as const)) {
              const base = { selfUnmute: false, screenShare: 'moderators', kind: 'screen', mutedBy: 'someone', joinPresence: 'absent' } as const;
              check({ ...base, type, actorKind, role, tokenRole, roleStored, self, otherRole, extraHost, newRole });
              cases++;
            }
          }
        }
      }
    }
    expect(cases).toBe((COMMAND_TYPES.length + 3) * 3 * 4 ** 3 * 2 ** 3);
  });

  it('permissions: the generated scenarios reach both answers for every command (the property is not vacuous)', () => {
    const seen = new Map<CommandType, Set<boolean>>();
    fc.assert(
      fc.property(scenarioArbitrary, (s) => {
        const answers = seen.get(s.type) ?? new Set<boolean>();
        answers.add(tableAllows(s));
        seen.set(s.type, answers);
      }),
      propertyOptions({ numRuns: Math.max(2000, propertyOptions().numRuns ?? 0), seed: 42 }),
    );
    for (const type of COMMAND_TYPES) expect([type, [...(seen.get(type) ?? [])].sort()]).toEqual([type, [false, true]]);
  });
});
