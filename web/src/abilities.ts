/** Which controls the page offers: one is shown (or enabled) when the
 *  domain's own planner — the function the server runs on every command —
 *  would accept the command on the view the page holds. So the permission
 *  table decides for the page exactly as it does for the server. */

import { planCommand } from '../../src/conference/commands.ts';
import type { Actor, Command, SessionView } from '../../src/conference/model.ts';

/** True when the server would accept `command` from `actor` on `view` (barring a change in between). */
export function allows(view: SessionView | undefined, actor: Actor, command: Command): boolean {
  return view !== undefined && planCommand(view, view.id, actor, command, Date.now()).ok;
}

/** The planner's reason for refusing, or undefined when it would accept. */
export function refusalOf(view: SessionView | undefined, actor: Actor, command: Command): string | undefined {
  if (view === undefined) return 'the meeting has not started';
  const plan = planCommand(view, view.id, actor, command, Date.now());
  return plan.ok ? undefined : plan.error.message;
}
