/** The screens around the meeting: waiting (connecting, joining, waiting for
 *  the host, in the lobby) with one's own preview, and the end (left,
 *  removed, turned away, ended, refused, disconnected) with what one can do next. */

import type { Meeting, MeetingState } from '../meeting.ts';
import { html } from './html.ts';
import { MeetingHeader } from './meeting-screen.ts';
import { Video } from './video.ts';

const WAITING_TEXT = {
  connecting: ['Connecting to the meeting…', ''],
  joining: ['Joining…', ''],
  waiting_for_host: ['Waiting for the host to start this meeting', 'You will join as soon as the host opens it.'],
  lobby: ['Waiting to be let in', 'You are in the lobby. A host or moderator has been told you are here.'],
} as const;

export function WaitingScreen({ state, meeting }: { state: MeetingState; meeting: Meeting }) {
  const kind = state.stage.kind as keyof typeof WAITING_TEXT;
  const [title, detail] = WAITING_TEXT[kind];
  return html`
    <div class="page waiting" data-stage=${kind}>
      <${MeetingHeader} state=${state} />
      <main class="center" id="main">
        <div class="card">
          <div class="preview"><${Video} stream=${state.localStream} muted=${true} mirrored=${true} /></div>
          <h2>${title}</h2>
          ${detail === '' ? null : html`<p>${detail}</p>`}
          <button type="button" class="button" onClick=${() => meeting.leave()}>${kind === 'lobby' ? 'Leave the lobby' : 'Cancel'}</button>
        </div>
      </main>
    </div>`;
}

export function EndScreen({ state, meeting, rejoin, restart }: { state: MeetingState; meeting: Meeting; rejoin: () => void; restart: () => void }) {
  const stage = state.stage;
  if (stage.kind !== 'refused' && stage.kind !== 'gone') return null;
  const reason = stage.kind === 'refused' ? 'refused' : stage.reason;
  return html`
    <div class="page ended" data-stage=${stage.kind} data-reason=${reason}>
      <main class="center" id="main">
        <div class="card" role="alert">
          <h2>${stage.message}</h2>
          <div class="card-actions">
            ${stage.kind === 'refused' ? html`<button type="button" class="button primary" onClick=${() => meeting.retryJoin()}>Try again</button>` : null}
            ${reason === 'left' || reason === 'closed' ? html`<button type="button" class="button primary" onClick=${rejoin}>Rejoin</button>` : null}
            <button type="button" class="button" onClick=${restart}>Back to the start</button>
          </div>
        </div>
      </main>
    </div>`;
}
