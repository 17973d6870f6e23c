/** The side panel: who waits in the lobby (admit / deny), raised hands in
 *  the order they went up, everyone present with what a host or moderator may
 *  do to them (mute, lower hand, change role, remove), the host's settings,
 *  and the mesh's limit. Every control is offered only where abilities.ts
 *  says the server would accept it. */

import { type Actor, type Command, ROLES, type Role, type SessionView } from '../../../src/conference/model.ts';
import { allows } from '../abilities.ts';
import type { Meeting, MeetingState } from '../meeting.ts';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.ts';
import { isPresent, ordinal } from './tile.ts';

/** Asks the user to confirm an irreversible action (dialog.ts). */
export type Confirm = (request: { readonly text: string; readonly action: string; readonly run: () => void }) => void;

const ROLE_NAMES: Readonly<Record<Role, string>> = { host: 'Host', moderator: 'Moderator', participant: 'Participant', viewer: 'Viewer' };

export function PeoplePanel({ state, meeting, confirm }: { state: MeetingState; meeting: Meeting; confirm: Confirm }) {
  const view = state.view as SessionView;
  const can = (command: Command): boolean => allows(view, state.actor, command);
  const lobby = view.participants.filter((p) => p.presence === 'lobby');
  const present = view.participants.filter(isPresent);
  return html`
    <aside class="panel" id="people-panel" aria-label="People and settings">
      ${lobby.length > 0 && lobby.some((p) => can({ type: 'admit', participant: p.id }))
        ? html`<section class="panel-section lobby">
            <h2>Waiting in the lobby (${lobby.length})</h2>
            <ul aria-label="Waiting in the lobby">
              ${lobby.map((p) => html`<li key=${p.id} data-participant=${p.id}>
                <span class="person-name">${p.name}</span>
                <span class="row-actions">
                  <button type="button" class="button small primary" disabled=${state.busy.has(`admit:${p.id}`)} onClick=${() => meeting.admit(p.id)}>Admit<span class="sr-only"> ${p.name}</span></button>
                  <button type="button" class="button small" disabled=${state.busy.has(`admit:${p.id}`)} onClick=${() => meeting.deny(p.id)}>Deny<span class="sr-only"> ${p.name}</span></button>
                </span>
              </li>`)}
            </ul>
          </section>`
        : null}
      ${view.hands.length === 0 ? null : html`<${Hands} state=${state} meeting=${meeting} view=${view} />`}
      <section class="panel-section people">
        <div class="section-head">
          <h2>In the meeting (${present.length})</h2>
          ${can({ type: 'mute_all' }) && present.length > 1
            ? html`<button type="button" class="button small" disabled=${state.busy.has('mute-all')} onClick=${() => meeting.muteAll()}>Mute all</button>`
            : null}
        </div>
        <ul aria-label="People in the meeting">
          ${present.map((p) => html`<${PersonRow} key=${p.id} id=${p.id} state=${state} meeting=${meeting} confirm=${confirm} can=${can} />`)}
        </ul>
      </section>
      ${can({ type: 'update_settings', settings: {} }) ? html`<${HostSettings} view=${view} meeting=${meeting} busy=${state.busy.has('settings')} />` : null}
      <p class="mesh-notice" data-over=${String(present.length > state.config.meshParticipantsMax)}>
        ${present.length > state.config.meshParticipantsMax
          ? `${present.length} people are here: audio and video go directly between every pair of browsers (a mesh), which works well for up to about ${state.config.meshParticipantsMax}. Expect stutter; larger meetings need a media server.`
          : `Audio and video go directly between browsers (a mesh): good for up to about ${state.config.meshParticipantsMax} participants.`}
      </p>
    </aside>`;
}

function Hands({ state, meeting, view }: { state: MeetingState; meeting: Meeting; view: SessionView }) {
  return html`
    <section class="panel-section hands">
      <h2>Raised hands (${view.hands.length})</h2>
      <ol aria-label="Raised hands">
        ${view.hands.map((id, index) => {
          const person = view.participants.find((p) => p.id === id);
          const name = person?.name ?? id;
          const self = id === state.actor.id;
          const mayLower = allows(view, state.actor, { type: 'lower_hand', participant: id });
          return html`<li key=${id} data-participant=${id}>
            <span class="hand-order" aria-hidden="true">${index + 1}</span>
            <span class="person-name">${name}${self ? ' (you)' : ''}<span class="sr-only">, ${ordinal(index + 1)}</span></span>
            ${mayLower ? html`<button type="button" class="button small" disabled=${state.busy.has(`hand:${id}`)} onClick=${() => meeting.lowerHand(id)}>Lower<span class="sr-only"> ${self ? 'your' : `${name}’s`} hand</span></button>` : null}
          </li>`;
        })}
      </ol>
    </section>`;
}

function PersonRow({ id, state, meeting, confirm, can }: { id: string; state: MeetingState; meeting: Meeting; confirm: Confirm; can: (command: Command) => boolean }) {
  const view = state.view as SessionView;
  const p = view.participants.find((x) => x.id === id)!;
  const self = id === state.actor.id;
  const audioOn = p.tracks.audio?.published === true && !p.tracks.audio.muted;
  const roles = ROLES.filter((role) => role === p.role || can({ type: 'set_role', participant: id, role }));
  return html`
    <li data-participant=${id} data-role=${p.role}>
      <span class="person-name">${p.name}${self ? ' (you)' : ''}</span>
      ${roles.length > 1
        ? html`<label class="role-select"><span class="sr-only">Role of ${p.name}</span>
            <select value=${p.role} disabled=${state.busy.has(`role:${id}`)} onChange=${(event: Event) => meeting.setRole(id, (event.currentTarget as HTMLSelectElement).value as Role)}>
              ${roles.map((role) => html`<option key=${role} value=${role}>${ROLE_NAMES[role]}</option>`)}
            </select></label>`
        : html`<span class="person-role">${ROLE_NAMES[p.role]}</span>`}
      <span class="person-mic" data-audio=${audioOn ? 'on' : 'off'}>${audioOn ? 'mic on' : 'muted'}</span>
      <span class="row-actions">
        ${!self && audioOn && can({ type: 'mute', participant: id, kind: 'audio' })
          ? html`<button type="button" class="button small" disabled=${state.busy.has(`mute:${id}`)} onClick=${() => meeting.mute(id)}>Mute<span class="sr-only"> ${p.name}</span></button>`
          : null}
        ${!self && can({ type: 'kick', participant: id })
          ? html`<button type="button" class="button small danger" disabled=${state.busy.has(`kick:${id}`)}
              onClick=${() => confirm({ text: `Remove ${p.name} from the meeting? They will not be able to join again.`, action: 'Remove', run: () => meeting.kick(id) })}>Remove<span class="sr-only"> ${p.name}</span></button>`
          : null}
      </span>
    </li>`;
}

function HostSettings({ view, meeting, busy }: { view: SessionView; meeting: Meeting; busy: boolean }) {
  const settings = view.settings;
  return html`
    <section class="panel-section settings">
      <h2>Meeting settings</h2>
      <${SettingCheckbox} checked=${settings.lobby} disabled=${busy} label="New participants wait in the lobby" change=${(on: boolean) => meeting.updateSettings({ lobby: on })} />
      <${SettingCheckbox} checked=${settings.selfUnmute} disabled=${busy} label="Participants may unmute themselves" change=${(on: boolean) => meeting.updateSettings({ selfUnmute: on })} />
      <${SettingCheckbox} checked=${settings.screenShare === 'everyone'} disabled=${busy} label="Participants may share their screen"
        change=${(on: boolean) => meeting.updateSettings({ screenShare: on ? 'everyone' : 'moderators' })} />
    </section>`;
}

/** A setting's checkbox: shows the user's choice at once, then what the session says (the choice, or the old value if refused). */
function SettingCheckbox({ checked, disabled, label, change }: { checked: boolean; disabled: boolean; label: string; change: (on: boolean) => Promise<boolean> }) {
  const [shown, setShown] = useState(checked);
  useEffect(() => setShown(checked), [checked]);
  const onChange = (event: Event): void => {
    const on = (event.currentTarget as HTMLInputElement).checked;
    setShown(on);
    void change(on).then((ok) => ok || setShown(checked));
  };
  return html`<label class="check"><input type="checkbox" checked=${shown} disabled=${disabled} onChange=${onChange} /> ${label}</label>`;
}

/** The actor's effective role on the view, for the header (the stored role, else the token's). */
export function roleOf(view: SessionView, actor: Actor): Role {
  const self = view.participants.find((p) => p.id === actor.id);
  return self?.roleStored === true ? self.role : actor.tokenRole;
}
