/** What changed between two views of the session, in sentences: read out by
 *  screen readers (an aria-live region) and, for what asks the user to act or
 *  concerns them, shown as a notice. Pure: views in, sentences out. */

import { participantOf } from '../../src/conference/mirror.ts';
import type { Actor, ParticipantView, SessionView } from '../../src/conference/model.ts';

export interface Announcement {
  readonly text: string;
  /** Also shown as a notice (not only read out). */
  readonly notice: boolean;
  /** The notice is about this participant waiting in the lobby: it goes once they are let in or leave. */
  readonly whileInLobby?: string;
}

const ROLE_NAMES = { host: 'a host', moderator: 'a moderator', participant: 'a participant', viewer: 'a viewer' } as const;

/** Sentences for what happened from `before` to `after`, as seen by `actor`; none for the first view. */
export function announcementsOf(before: SessionView | undefined, after: SessionView | undefined, actor: Actor): Announcement[] {
  if (before === undefined || after === undefined) return [];
  const out: Announcement[] = [];
  const me = participantOf(after, actor.id);
  const moderating = me?.role === 'host' || me?.role === 'moderator';
  for (const now of after.participants) {
    const then = participantOf(before, now.id);
    if (now.id === actor.id) out.push(...aboutMe(then, now, after));
    else out.push(...aboutOther(then, now, moderating));
  }
  for (const id of after.hands) {
    if (!before.hands.includes(id) && id !== actor.id) out.push({ text: `${participantOf(after, id)?.name ?? 'Someone'} raised a hand.`, notice: false });
  }
  if (before.phase !== after.phase && after.phase === 'locked') out.push({ text: 'The meeting is now locked: nobody new can join.', notice: true });
  if (before.phase === 'locked' && after.phase === 'open') out.push({ text: 'The meeting is unlocked.', notice: true });
  return out;
}

function aboutOther(then: ParticipantView | undefined, now: ParticipantView, moderating: boolean): Announcement[] {
  if (then?.presence === now.presence) return [];
  switch (now.presence) {
    case 'lobby':
      return [{ text: `${now.name} is waiting in the lobby.`, notice: moderating, whileInLobby: now.id }];
    case 'joined':
      return then?.presence === 'reconnecting' ? [] : [{ text: `${now.name} joined.`, notice: false }];
    case 'left':
      return [{ text: `${now.name} left.`, notice: false }];
    case 'kicked':
      return [{ text: `${now.name} was removed from the meeting.`, notice: false }];
    default:
      return [];
  }
}

function aboutMe(then: ParticipantView | undefined, now: ParticipantView, view: SessionView): Announcement[] {
  const out: Announcement[] = [];
  if (then !== undefined && then.roleStored && now.roleStored && then.role !== now.role) out.push({ text: `You are now ${ROLE_NAMES[now.role]}.`, notice: true });
  for (const kind of ['audio', 'video'] as const) {
    const was = then?.tracks[kind];
    const is = now.tracks[kind];
    if (is?.muted === true && was?.muted !== true && is.mutedBy !== null && is.mutedBy !== now.id) {
      const by = participantOf(view, is.mutedBy)?.name ?? 'A host';
      out.push({ text: kind === 'audio' ? `${by} muted your microphone.` : `${by} turned off your camera.`, notice: true });
    }
  }
  if (then?.handPosition !== null && then?.handPosition !== undefined && now.handPosition === null) out.push({ text: 'Your hand was lowered.', notice: false });
  return out;
}
