/** A <video> showing a MediaStream: attaches it as srcObject, and when the
 *  browser blocks playback with sound (no click on this page yet) retries on
 *  the user's next click or key press. */

import { useEffect, useRef } from 'preact/hooks';
import { html } from './html.ts';

export interface VideoProps {
  readonly stream: MediaStream | undefined;
  /** Our own camera and screen are muted (no echo); others' play their sound. */
  readonly muted: boolean;
  /** Our own camera is shown as in a mirror, as every meeting app does. */
  readonly mirrored?: boolean;
  /** Hidden but still playing (a remote camera turned off still carries the voice). */
  readonly hidden?: boolean;
}

export function Video({ stream, muted, mirrored = false, hidden = false }: VideoProps) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const video = ref.current;
    if (video === null || video.srcObject === (stream ?? null)) return;
    video.srcObject = stream ?? null;
    if (stream !== undefined) playWhenAllowed(video);
  }, [stream]);
  const classes = ['video', mirrored ? 'mirrored' : '', hidden ? 'off' : ''].filter(Boolean).join(' ');
  return html`<video ref=${ref} class=${classes} autoplay playsinline muted=${muted} aria-hidden="true"></video>`;
}

function playWhenAllowed(video: HTMLVideoElement): void {
  video.play().catch((error: unknown) => {
    if (!(error instanceof DOMException) || error.name !== 'NotAllowedError') return;
    const retry = (): void => void video.play().catch(() => undefined);
    document.addEventListener('click', retry, { once: true });
    document.addEventListener('keydown', retry, { once: true });
  });
}
