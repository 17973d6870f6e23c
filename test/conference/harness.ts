/** A session for tests: plans commands against a SessionMirror and applies
 *  each accepted plan's updates with increasing timestamps, as the server
 *  does after the write path acknowledged them. */

import { expect } from 'vitest';
import { planCommand } from '../../src/conference/commands.ts';
import { SessionMirror, participantOf } from '../../src/conference/mirror.ts';
import type { Actor, Command, CommandErrorCode, ElementUpdate, ParticipantView, Plan, Role, SessionSettings, SessionView } from '../../src/conference/model.ts';

export const participant = (id: string, tokenRole: Role = 'participant'): Actor => ({ kind: 'participant', id, tokenRole });
export const service = (id: string, tokenRole: Role = 'host'): Actor => ({ kind: 'service', id, tokenRole });
export const SYSTEM: Actor = { kind: 'system', id: 'server', tokenRole: 'host' };

export class TestSession {
  readonly mirror: SessionMirror;
  ts = 0;
  nowMs = 1_700_000_000_000;

  constructor(readonly id = 's1') {
    this.mirror = new SessionMirror(id);
  }

  view(): SessionView | undefined {
    return this.mirror.view();
  }

  /** The view, which must exist. */
  must(): SessionView {
    const view = this.mirror.view();
    expect(view).toBeDefined();
    return view!;
  }

  person(id: string): ParticipantView | undefined {
    return participantOf(this.must(), id);
  }

  /** Plans and, when accepted, applies the updates (each at its own, newer ts). */
  run(actor: Actor, command: Command): Plan {
    const plan = planCommand(this.mirror.view(), this.id, actor, command, this.nowMs);
    if (plan.ok) this.apply(plan.updates);
    this.nowMs += 1000;
    return plan;
  }

  apply(updates: readonly ElementUpdate[]): void {
    for (const update of updates) this.mirror.apply({ key: update.key, ts: ++this.ts, value: update.value });
  }

  /** Runs a command that must be accepted; returns its updates. */
  ok(actor: Actor, command: Command): readonly ElementUpdate[] {
    const plan = this.run(actor, command);
    if (!plan.ok) expect.fail(`${command.type} by ${actor.id} refused: ${plan.error.code}: ${plan.error.message}`);
    return plan.updates;
  }

  /** Runs a command that must be refused with `code`; checks the view did not change; returns the message. */
  refused(actor: Actor, command: Command, code: CommandErrorCode): string {
    const before = this.mirror.view();
    const plan = this.run(actor, command);
    if (plan.ok) expect.fail(`${command.type} by ${actor.id} was accepted with ${plan.updates.length} updates; expected ${code}`);
    expect(plan.error.code).toBe(code);
    expect(this.mirror.view()).toBe(before);
    return plan.error.message;
  }
}

/**
 * An open session `s1` created by a service, with host `h1` joined, plus the
 * members given: each joins and, when it lands in the lobby, is admitted.
 */
export function openSession(settings: Partial<SessionSettings> = {}, members: readonly [string, Role][] = []): TestSession {
  const session = new TestSession();
  session.ok(service('backend'), { type: 'create', title: 'Weekly', settings });
  session.ok(participant('h1', 'host'), { type: 'join', name: 'Hana' });
  for (const [id, role] of members) {
    session.ok(participant(id, role), { type: 'join', name: `name of ${id}` });
    if (session.person(id)!.presence === 'lobby') session.ok(participant('h1', 'host'), { type: 'admit', participant: id });
  }
  return session;
}
