/** The grid of the meeting: one tile per member present (their camera, or
 *  their initial when it is off, with name, role, microphone and hand), and a
 *  wider tile per shared screen. What a tile shows comes from confstate's
 *  track state; the video comes from the peer connection. */

import type { ParticipantView, SessionView } from '../../../src/conference/model.ts';
import type { MeetingState } from '../meeting.ts';
import type { RemoteMedia } from '../peer.ts';
import { Icon } from './icons.ts';
import { html } from './html.ts';
import { Video } from './video.ts';

const ROLE_LABELS = { host: 'Host', moderator: 'Moderator', participant: '', viewer: 'Viewer' } as const;

/** 1st, 2nd, 3rd, 4th… */
export function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

export function isPresent(p: ParticipantView): boolean {
  return p.presence === 'joined' || p.presence === 'reconnecting';
}

export function Grid({ state }: { state: MeetingState }) {
  const view = state.view as SessionView;
  const present = view.participants.filter(isPresent);
  const screens = present.filter((p) => p.tracks.screen?.published === true && !p.tracks.screen.muted);
  const tiles = screens.length + present.length;
  return html`
    <section class="grid" data-count=${Math.min(tiles, 9)} aria-label="Video of everyone in the meeting">
      ${screens.map((p) => html`<${ScreenTile} key=${`screen-${p.id}`} participant=${p} self=${p.id === state.actor.id} state=${state} />`)}
      ${present.map((p) => html`<${ParticipantTile} key=${p.id} participant=${p} self=${p.id === state.actor.id} state=${state} />`)}
    </section>`;
}

function ParticipantTile({ participant: p, self, state }: { participant: ParticipantView; self: boolean; state: MeetingState }) {
  const remote: RemoteMedia | undefined = state.remote.get(p.id);
  const audioOn = p.tracks.audio?.published === true && !p.tracks.audio.muted;
  const videoOn = p.tracks.video?.published === true && !p.tracks.video.muted;
  const stream = self ? state.localStream : remote?.camera;
  const role = ROLE_LABELS[p.role];
  const hand = p.handPosition === null ? null : p.handPosition + 1;
  const label = [
    self ? `${p.name} (you)` : p.name,
    role === '' ? null : role.toLowerCase(),
    audioOn ? 'microphone on' : 'microphone off',
    videoOn ? 'camera on' : 'camera off',
    hand === null ? null : `hand raised (${ordinal(hand)})`,
    p.presence === 'reconnecting' ? 'reconnecting' : null,
  ].filter(Boolean).join(', ');
  const mediaState = self ? 'local' : (remote?.state ?? 'new');
  return html`
    <figure class=${`tile${self ? ' self' : ''}${hand === null ? '' : ' hand-up'}`} data-participant=${p.id} data-audio=${audioOn ? 'on' : 'off'} data-video=${videoOn ? 'on' : 'off'}
      data-media=${mediaState} aria-label=${label}>
      ${stream === undefined ? null : html`<${Video} stream=${stream} muted=${self} mirrored=${self} hidden=${!videoOn} />`}
      ${videoOn && stream !== undefined ? null : html`<div class="avatar" aria-hidden="true"><span>${initialOf(p.name)}</span></div>`}
      ${p.presence === 'reconnecting' ? html`<div class="tile-state">Reconnecting…</div>` : !self && mediaState !== 'connected' ? html`<div class="tile-state">${mediaState === 'failed' ? 'Media lost, retrying…' : 'Connecting media…'}</div>` : null}
      <figcaption aria-hidden="true">
        ${audioOn ? null : html`<span class="tile-muted" title="Microphone off"><${Icon} name="micOff" size=${16} /></span>`}
        <span class="tile-name">${p.name}${self ? ' (you)' : ''}</span>
        ${role === '' ? null : html`<span class="tile-role">${role}</span>`}
        ${hand === null ? null : html`<span class="tile-hand" title=${`Hand raised, ${ordinal(hand)}`}><${Icon} name="hand" size=${16} />${hand}</span>`}
      </figcaption>
    </figure>`;
}

function ScreenTile({ participant: p, self, state }: { participant: ParticipantView; self: boolean; state: MeetingState }) {
  const stream = self ? state.screenStream : state.remote.get(p.id)?.screen;
  return html`
    <figure class="tile screen" data-screen=${p.id} aria-label=${self ? 'Your shared screen' : `${p.name}’s shared screen`}>
      ${stream === undefined ? html`<div class="tile-state">Connecting the screen…</div>` : html`<${Video} stream=${stream} muted=${true} />`}
      <figcaption aria-hidden="true"><${Icon} name="screen" size=${16} /><span class="tile-name">${self ? 'You are presenting' : `${p.name} is presenting`}</span></figcaption>
    </figure>`;
}

function initialOf(name: string): string {
  return [...name.trim()][0]?.toUpperCase() ?? '?';
}
