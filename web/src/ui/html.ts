/** The page's view layer: Preact components written with htm tagged
 *  templates (no JSX transform, docs/decisions/0018), and the hook that
 *  re-renders a component on every new state of a Meeting. */

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import type { Meeting, MeetingState } from '../meeting.ts';

export { html };

/** The meeting's current state, re-rendered on every change. */
export function useMeetingState(meeting: Meeting): MeetingState {
  const [state, setState] = useState(meeting.state);
  useEffect(() => {
    setState(meeting.state); // a change between the render and this subscription
    return meeting.subscribe(setState);
  }, [meeting]);
  return state;
}
