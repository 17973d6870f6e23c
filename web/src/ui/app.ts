/** The page's top: the join screen until a grant is had, then the meeting
 *  through its stages (waiting, meeting, end). It owns the one Meeting and the
 *  local media, and starts them afresh on rejoin. */

import { useEffect, useState } from 'preact/hooks';
import { LocalMedia } from '../local-media.ts';
import { Meeting } from '../meeting.ts';
import type { PageConfig } from '../page-config.ts';
import { html, useMeetingState } from './html.ts';
import { type JoinRequest, JoinScreen } from './join-screen.ts';
import { MeetingScreen } from './meeting-screen.ts';
import { EndScreen, WaitingScreen } from './stage-screens.ts';

export interface AppProps {
  readonly config: PageConfig;
  readonly servers: readonly string[];
  readonly initialSession: string;
}

export function App({ config, servers, initialSession }: AppProps) {
  const [media, setMedia] = useState(() => new LocalMedia());
  const [meeting, setMeeting] = useState<Meeting | undefined>(undefined);
  const [request, setRequest] = useState<JoinRequest | undefined>(undefined);
  const start = (next: JoinRequest, local: LocalMedia): void => {
    setRequest(next);
    const url = new URL(window.location.href);
    url.search = new URLSearchParams({ session: next.grant.session }).toString();
    window.history.replaceState(null, '', url);
    setMeeting(new Meeting({ grant: next.grant, config, servers, local, wants: next.wants }));
  };
  useEffect(() => () => meeting?.close(), [meeting]);
  if (meeting === undefined || request === undefined) {
    return html`<${JoinScreen} config=${config} servers=${servers} media=${media} initialSession=${initialSession} onJoin=${(next: JoinRequest) => start(next, media)} />`;
  }
  const fresh = (): LocalMedia => {
    const local = new LocalMedia();
    setMedia(local);
    return local;
  };
  return html`<${MeetingView} meeting=${meeting}
    rejoin=${() => {
      const local = fresh();
      void local.acquire().then(() => start(request, local));
    }}
    restart=${() => {
      fresh();
      setMeeting(undefined);
    }} />`;
}

function MeetingView({ meeting, rejoin, restart }: { meeting: Meeting; rejoin: () => void; restart: () => void }) {
  const state = useMeetingState(meeting);
  switch (state.stage.kind) {
    case 'meeting':
      return html`<${MeetingScreen} state=${state} meeting=${meeting} />`;
    case 'refused':
    case 'gone':
      return html`<${EndScreen} state=${state} meeting=${meeting} rejoin=${rejoin} restart=${restart} />`;
    default:
      return html`<${WaitingScreen} state=${state} meeting=${meeting} />`;
  }
}
