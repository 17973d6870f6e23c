/** The bar at the bottom of the meeting: microphone, camera, screen share,
 *  hand, the people panel, and leave / end. Labels say what a button does
 *  now ("Mute", "Unmute"); a control the server would refuse is marked
 *  aria-disabled but stays focusable, and explains itself when pressed. */

import type { SessionView } from '../../../src/conference/model.ts';
import { allows } from '../abilities.ts';
import type { Meeting, MeetingState } from '../meeting.ts';
import { html } from './html.ts';
import { Icon, type IconName } from './icons.ts';
import type { Confirm } from './people-panel.ts';

interface ControlProps {
  readonly icon: IconName;
  readonly label: string;
  readonly onClick: () => void;
  /** Shown "off" (red), as muted microphones are in every meeting app. */
  readonly off?: boolean;
  readonly pressed?: boolean;
  readonly disabled?: boolean;
  readonly shortcut?: string;
  readonly danger?: boolean;
  readonly extra?: Record<string, string>;
}

function Control({ icon, label, onClick, off = false, pressed, disabled = false, shortcut, danger = false, extra = {} }: ControlProps) {
  return html`
    <button type="button" class=${`control${off ? ' off' : ''}${danger ? ' danger' : ''}`} onClick=${onClick}
      aria-disabled=${disabled ? 'true' : undefined} aria-pressed=${pressed === undefined ? undefined : String(pressed)}
      aria-keyshortcuts=${shortcut} title=${shortcut === undefined ? label : `${label} (${shortcut.replace('Control', 'Ctrl')})`} ...${extra}>
      <${Icon} name=${icon} /><span class="control-label">${label}</span>
    </button>`;
}

export function ControlBar({ state, meeting, confirm, panelOpen, togglePanel }: { state: MeetingState; meeting: Meeting; confirm: Confirm; panelOpen: boolean; togglePanel: () => void }) {
  const view = state.view as SessionView;
  const self = state.self;
  const audio = self?.tracks.audio;
  const video = self?.tracks.video;
  const micOn = audio?.published === true && !audio.muted;
  const camOn = video?.published === true && !video.muted;
  const sharing = state.screenStream !== undefined;
  const handUp = self?.handPosition !== null && self?.handPosition !== undefined;
  const unmuteAllowed = micOn || allows(view, state.actor, { type: 'unmute', participant: state.actor.id, kind: 'audio' });
  const cameraAllowed = camOn || allows(view, state.actor, { type: 'unmute', participant: state.actor.id, kind: 'video' });
  const viewer = self?.role === 'viewer';
  return html`
    <footer class="controls" role="toolbar" aria-label="Meeting controls">
      <div class="controls-main">
        ${viewer ? null : html`
          <${Control} icon=${micOn ? 'mic' : 'micOff'} label=${micOn ? 'Mute' : 'Unmute'} off=${!micOn} disabled=${!unmuteAllowed || state.localStream?.getAudioTracks().length === 0}
            shortcut="Control+D" onClick=${() => meeting.toggleMicrophone()} extra=${{ 'data-control': 'microphone', 'data-state': micOn ? 'on' : 'off' }} />
          <${Control} icon=${camOn ? 'camera' : 'cameraOff'} label=${camOn ? 'Stop video' : 'Start video'} off=${!camOn} disabled=${!cameraAllowed || state.localStream?.getVideoTracks().length === 0}
            shortcut="Control+E" onClick=${() => meeting.toggleCamera()} extra=${{ 'data-control': 'camera', 'data-state': camOn ? 'on' : 'off' }} />
          ${typeof navigator.mediaDevices?.getDisplayMedia === 'function'
            ? html`<${Control} icon="screen" label=${sharing ? 'Stop sharing' : 'Share screen'} pressed=${sharing}
                disabled=${!sharing && !allows(view, state.actor, { type: 'publish_track', kind: 'screen' })} onClick=${() => void meeting.toggleScreen()} />`
            : null}`}
        <${Control} icon="hand" label=${handUp ? 'Lower hand' : 'Raise hand'} pressed=${handUp} disabled=${state.busy.has('hand')} onClick=${() => meeting.toggleHand()} />
        <${Control} icon="people" label="People" pressed=${panelOpen} onClick=${togglePanel} extra=${{ 'aria-controls': 'people-panel', 'aria-expanded': String(panelOpen) }} />
      </div>
      <div class="controls-end">
        <${Control} icon="leave" label="Leave" danger=${true} onClick=${() => meeting.leave()} />
        ${allows(view, state.actor, { type: 'end' })
          ? html`<${Control} icon="end" label="End meeting for all" danger=${true}
              onClick=${() => confirm({ text: 'End the meeting for everyone? Nobody will be able to rejoin it.', action: 'End meeting', run: () => meeting.end() })} />`
          : null}
      </div>
    </footer>`;
}
