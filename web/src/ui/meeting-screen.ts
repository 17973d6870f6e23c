/** The meeting itself: the header (title, DEMO label, lock, connection), the
 *  grid, the people panel, the control bar, notices and the screen-reader
 *  announcements, with the keyboard shortcuts of Meet (Ctrl+D, Ctrl+E). */

import { useEffect, useState } from 'preact/hooks';
import type { SessionView } from '../../../src/conference/model.ts';
import { allows } from '../abilities.ts';
import type { Meeting, MeetingState } from '../meeting.ts';
import { ConnectionStatus } from './connection-status.ts';
import { ControlBar } from './control-bar.ts';
import { ConfirmDialog, type ConfirmRequest } from './dialog.ts';
import { html } from './html.ts';
import { Icon } from './icons.ts';
import { PeoplePanel, roleOf } from './people-panel.ts';
import { Grid } from './tile.ts';

/** Below this width the people panel starts closed (it covers the grid there). */
const PANEL_OPEN_WIDTH_MIN_PX = 900;

export function MeetingScreen({ state, meeting }: { state: MeetingState; meeting: Meeting }) {
  const [panelOpen, setPanelOpen] = useState(() => window.innerWidth >= PANEL_OPEN_WIDTH_MIN_PX);
  const [confirming, setConfirming] = useState<ConfirmRequest | undefined>(undefined);
  useShortcuts(meeting);
  return html`
    <div class=${`meeting${panelOpen ? ' with-panel' : ''}`}>
      <${MeetingHeader} state=${state} meeting=${meeting} />
      <main class="stage" id="main">
        <${Grid} state=${state} />
        ${panelOpen ? html`<${PeoplePanel} state=${state} meeting=${meeting} confirm=${setConfirming} />` : null}
      </main>
      <${ControlBar} state=${state} meeting=${meeting} confirm=${setConfirming} panelOpen=${panelOpen} togglePanel=${() => setPanelOpen(!panelOpen)} />
      <${Notices} state=${state} meeting=${meeting} />
      <${ConfirmDialog} request=${confirming} close=${() => setConfirming(undefined)} />
    </div>`;
}

export function MeetingHeader({ state, meeting }: { state: MeetingState; meeting?: Meeting }) {
  const view = state.view;
  const locked = view?.phase === 'locked';
  const mayLock = meeting !== undefined && view !== undefined && allows(view, state.actor, { type: locked ? 'unlock' : 'lock' });
  const [copied, setCopied] = useState(false);
  const copy = (): void => {
    void navigator.clipboard?.writeText(inviteLink(state.grant.session)).then(() => {
      setCopied(true);
      setTimeout(() => setCopied(false), 2_000);
    });
  };
  return html`
    <header class="topbar">
      <div class="topbar-title">
        <span class="brand" aria-hidden="true">confstate</span>
        ${state.config.demo ? html`<span class="badge demo" title="Demo mode: anyone who can reach this server joins by naming themselves. Never use it for real meetings.">DEMO</span>` : null}
        <h1>${view?.title ?? state.grant.session}</h1>
        <span class="meeting-id">Meeting ID <code>${state.grant.session}</code></span>
        ${view !== undefined && navigator.clipboard !== undefined ? html`<button type="button" class="button small ghost" onClick=${copy}><${Icon} name="link" size=${16} />${copied ? 'Link copied' : 'Copy invite link'}</button>` : null}
      </div>
      <div class="topbar-state">
        ${view?.recording.active === true ? html`<span class="badge rec">REC</span>` : null}
        ${locked ? html`<span class="badge locked" data-locked="true"><${Icon} name="lock" size=${14} />Locked</span>` : null}
        ${mayLock
          ? html`<button type="button" class="button small" disabled=${state.busy.has('lock')} onClick=${() => meeting!.setLocked(!locked)}>
              <${Icon} name=${locked ? 'unlock' : 'lock'} size=${16} />${locked ? 'Unlock meeting' : 'Lock meeting'}</button>`
          : null}
        ${view === undefined ? null : html`<span class="my-role">You are ${roleOf(view as SessionView, state.actor)}</span>`}
        <${ConnectionStatus} connection=${state.connection} />
      </div>
    </header>`;
}

function Notices({ state, meeting }: { state: MeetingState; meeting: Meeting }) {
  return html`
    <div class="notices">
      ${state.notices.map((notice) => html`
        <div key=${notice.id} class=${`notice ${notice.tone}`} data-tone=${notice.tone}>
          <span class="notice-text">${notice.text}</span>
          <button type="button" class="icon-button" onClick=${() => meeting.dismissNotice(notice.id)}><${Icon} name="close" size=${16} /><span class="sr-only">Dismiss</span></button>
        </div>`)}
    </div>
    <div class="sr-only" aria-live="polite" aria-atomic="true" key=${state.announcement.count}>${state.announcement.text}</div>`;
}

/** Ctrl+D (Cmd+D) toggles the microphone and Ctrl+E the camera, as in Google Meet. */
function useShortcuts(meeting: Meeting): void {
  useEffect(() => {
    const onKey = (event: KeyboardEvent): void => {
      if (!(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey) return;
      const key = event.key.toLowerCase();
      if (key !== 'd' && key !== 'e') return;
      event.preventDefault();
      if (key === 'd') meeting.toggleMicrophone();
      else meeting.toggleCamera();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [meeting]);
}

export function inviteLink(session: string): string {
  const url = new URL(window.location.href);
  url.search = new URLSearchParams({ session }).toString();
  url.hash = '';
  return url.toString();
}
