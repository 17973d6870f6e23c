/** The first screen: your camera preview with microphone and camera
 *  toggles, your name, the meeting id (from the link, or a new one), and in
 *  demo mode a join by name; otherwise — or on request — a pasted token.
 *  A grant this tab used before for the meeting offers "Rejoin as …". */

import { useEffect, useState } from 'preact/hooks';
import { ID_PATTERN, NAME_LENGTH_MAX } from '../../../src/conference/model.ts';
import { type Grant, GrantError, demoGrant, savedGrant, saveGrant, tokenGrant } from '../grants.ts';
import type { LocalMedia } from '../local-media.ts';
import type { PageConfig } from '../page-config.ts';
import { html } from './html.ts';
import { Icon } from './icons.ts';
import { Video } from './video.ts';

export interface JoinRequest {
  readonly grant: Grant;
  readonly wants: { readonly audio: boolean; readonly video: boolean };
}

interface JoinScreenProps {
  readonly config: PageConfig;
  readonly servers: readonly string[];
  readonly media: LocalMedia;
  readonly initialSession: string;
  readonly onJoin: (request: JoinRequest) => void;
}

const NAME_KEY = 'confstate.name';

export function JoinScreen({ config, servers, media, initialSession, onJoin }: JoinScreenProps) {
  const [name, setName] = useState(() => readName());
  const [session, setSession] = useState(initialSession);
  const [useToken, setUseToken] = useState(!config.demo);
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [wants, setWants] = useState({ audio: true, video: true });
  const [, setMediaVersion] = useState(0);
  useEffect(() => {
    const stop = media.onChange(() => setMediaVersion((v) => v + 1));
    void media.acquire();
    return stop;
  }, [media]);
  useEffect(() => {
    media.setEnabled('audio', wants.audio);
    media.setEnabled('video', wants.video);
  }, [media, wants, media.stream]);
  const saved = ID_PATTERN.test(session) ? savedGrant(session, Date.now()) : undefined;

  const join = async (grant: () => Promise<Grant> | Grant): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const granted = await grant();
      saveGrant(granted);
      rememberName(granted.name);
      onJoin({ grant: granted, wants });
    } catch (problem) {
      setError(problem instanceof GrantError ? problem.message : `Could not join: ${problem instanceof Error ? problem.message : String(problem)}`);
      setBusy(false);
    }
  };
  const submit = (event: Event): void => {
    event.preventDefault();
    const trimmed = name.trim();
    if (trimmed === '') return setError('Enter your name: the others see it on your tile.');
    if (useToken) void join(() => tokenGrant(token, trimmed));
    else if (!ID_PATTERN.test(session)) setError('A meeting ID is 1–64 letters, digits or . _ : ~ -');
    else void join(() => demoGrant(servers, session, trimmed));
  };

  return html`
    <div class="page join">
      <header class="topbar">
        <div class="topbar-title"><span class="brand">confstate</span>
          ${config.demo ? html`<span class="badge demo" title="Demo mode: anyone who can reach this server joins by naming themselves.">DEMO</span>` : null}</div>
      </header>
      <main class="center" id="main">
        <div class="join-layout">
          <${Preview} media=${media} wants=${wants} setWants=${setWants} />
          <form class="card join-form" onSubmit=${submit} aria-describedby=${error === undefined ? undefined : 'join-error'}>
            <h1>${saved === undefined ? 'Join a meeting' : 'Rejoin the meeting'}</h1>
            ${config.demo ? html`<p class="demo-note"><strong>Demo mode.</strong> Anyone who can reach this server joins by typing a name; the first to join a meeting is its host. Never use it for real meetings.</p>` : null}
            <label for="join-name">Your name</label>
            <input id="join-name" name="name" autocomplete="name" required maxLength=${NAME_LENGTH_MAX} value=${name} onInput=${(e: Event) => setName((e.currentTarget as HTMLInputElement).value)} />
            <${MeetingFields} useToken=${useToken} token=${token} setToken=${setToken} session=${session} setSession=${setSession} />
            ${error === undefined ? null : html`<p class="error" id="join-error" role="alert">${error}</p>`}
            <div class="card-actions">
              ${saved !== undefined && !useToken ? html`<button type="button" class="button primary" disabled=${busy} onClick=${() => void join(() => saved)}>Rejoin as ${saved.name}</button>` : null}
              <button type="submit" class=${`button${saved === undefined ? ' primary' : ''}`} disabled=${busy}>${busy ? 'Joining…' : 'Join meeting'}</button>
              ${config.demo ? html`<button type="button" class="button ghost" onClick=${() => setUseToken(!useToken)}>${useToken ? 'Join by name instead' : 'Use a token instead'}</button>` : null}
            </div>
            <p class="mesh-notice">Audio and video go directly between browsers (a mesh): up to ~6 participants.</p>
          </form>
        </div>
      </main>
    </div>`;
}

/** The meeting half of the form: a pasted token (which names the meeting), or the meeting ID. */
function MeetingFields({ useToken, token, setToken, session, setSession }: { useToken: boolean; token: string; setToken: (t: string) => void; session: string; setSession: (s: string) => void }) {
  if (useToken) {
    return html`<label for="join-token">Token</label>
      <textarea id="join-token" name="token" rows="3" required spellcheck=${false} value=${token} onInput=${(e: Event) => setToken((e.currentTarget as HTMLTextAreaElement).value)}></textarea>
      <p class="hint">The token names the meeting and your role; your organisation's server signs it.</p>`;
  }
  return html`<label for="join-session">Meeting ID</label>
    <input id="join-session" name="session" required maxLength="64" pattern="[A-Za-z0-9_.:~\\-]{1,64}" value=${session} onInput=${(e: Event) => setSession((e.currentTarget as HTMLInputElement).value.trim())} />
    <p class="hint">Share the link with the same ID to meet; a new ID starts a new meeting.</p>`;
}

function Preview({ media, wants, setWants }: { media: LocalMedia; wants: JoinRequest['wants']; setWants: (wants: JoinRequest['wants']) => void }) {
  const hasAudio = media.track('audio') !== undefined;
  const hasVideo = media.track('video') !== undefined;
  return html`
    <section class="card preview-card" aria-label="Your camera and microphone">
      <div class="preview">
        <${Video} stream=${media.stream} muted=${true} mirrored=${true} hidden=${!wants.video || !hasVideo} />
        ${wants.video && hasVideo ? null : html`<div class="avatar"><span>${!media.settled ? 'Starting the camera…' : hasVideo ? 'Camera off' : 'No camera'}</span></div>`}
      </div>
      ${media.problem === undefined ? null : html`<p class="hint warning" role="status">${media.problem}</p>`}
      <div class="preview-controls">
        <button type="button" class=${`control${wants.audio && hasAudio ? '' : ' off'}`} disabled=${!hasAudio} aria-pressed=${String(!wants.audio)}
          onClick=${() => setWants({ ...wants, audio: !wants.audio })}><${Icon} name=${wants.audio ? 'mic' : 'micOff'} /><span class="control-label">Join muted</span></button>
        <button type="button" class=${`control${wants.video && hasVideo ? '' : ' off'}`} disabled=${!hasVideo} aria-pressed=${String(!wants.video)}
          onClick=${() => setWants({ ...wants, video: !wants.video })}><${Icon} name=${wants.video ? 'camera' : 'cameraOff'} /><span class="control-label">Join with camera off</span></button>
      </div>
    </section>`;
}

function readName(): string {
  try {
    return localStorage.getItem(NAME_KEY) ?? '';
  } catch {
    return '';
  }
}

function rememberName(name: string): void {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Storage off: the name is asked again next time.
  }
}
