/** The microphone, camera and screen this page sends: acquiring them, and
 *  each track's `enabled` flag — what actually leaves the machine (a disabled
 *  track sends silence or black frames). It knows neither confstate nor the
 *  peers; the meeting decides when a track is on. */

export type LocalKind = 'audio' | 'video';

/**
 * A mesh sends one copy of the camera per peer, so the page asks for 640×360
 * at 24 fps: about 0.5–0.8 Mbit/s each, which six peers' uplinks still carry.
 */
const CAMERA: MediaTrackConstraints = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24 } };
const MICROPHONE: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

export class LocalMedia {
  #camera: MediaStream | undefined = undefined;
  #screen: MediaStream | undefined = undefined;
  #acquiring: Promise<void> | undefined = undefined;
  #stopped = false;
  /** The browser has answered the request for microphone and camera (with devices or without). */
  settled = false;
  /** Why a device is missing, for the user (permission denied, no camera, …); undefined when both came. */
  problem: string | undefined = undefined;
  readonly #listeners = new Set<() => void>();

  /** Microphone and camera in one stream (either may be missing). */
  get stream(): MediaStream | undefined {
    return this.#camera;
  }

  get screenStream(): MediaStream | undefined {
    return this.#screen;
  }

  track(kind: LocalKind | 'screen'): MediaStreamTrack | undefined {
    if (kind === 'screen') return this.#screen?.getVideoTracks()[0];
    return kind === 'audio' ? this.#camera?.getAudioTracks()[0] : this.#camera?.getVideoTracks()[0];
  }

  /** Asks for microphone and camera once: both, else either alone, else none (and says why). */
  acquire(): Promise<void> {
    this.#acquiring ??= this.#acquire().finally(() => {
      this.settled = true;
      this.#changed();
    });
    return this.#acquiring;
  }

  async #acquire(): Promise<void> {
    const devices = navigator.mediaDevices;
    if (devices?.getUserMedia === undefined) {
      this.problem = 'This browser gives no access to a camera or microphone here (the page needs https or localhost).';
      return this.#changed();
    }
    const attempts: MediaStreamConstraints[] = [{ audio: MICROPHONE, video: CAMERA }, { audio: MICROPHONE }, { video: CAMERA }];
    let lastError: unknown;
    for (const constraints of attempts) {
      try {
        const stream = await devices.getUserMedia(constraints);
        if (this.#stopped) return stopAll(stream);
        this.#camera = stream;
        this.problem = constraints.video === undefined ? 'No camera: you join with your microphone only.' : constraints.audio === undefined ? 'No microphone: you join with your camera only.' : undefined;
        return this.#changed();
      } catch (error) {
        lastError = error;
        if (error instanceof DOMException && error.name === 'NotAllowedError') break; // asking again with less would be refused too
      }
    }
    this.problem = describeMediaError(lastError);
    this.#changed();
  }

  enabled(kind: LocalKind): boolean {
    return this.track(kind)?.enabled === true;
  }

  /** Turns a track on or off; off means nothing of it leaves the machine. */
  setEnabled(kind: LocalKind, enabled: boolean): void {
    const track = this.track(kind);
    if (track === undefined || track.enabled === enabled) return;
    track.enabled = enabled;
    this.#changed();
  }

  /** Asks the browser for a screen, window or tab; false when the user declined or the browser cannot. */
  async startScreen(): Promise<boolean> {
    if (this.#screen !== undefined) return true;
    const devices = navigator.mediaDevices;
    if (devices?.getDisplayMedia === undefined) return false;
    try {
      const stream = await devices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
      if (this.#stopped) return (stopAll(stream), false);
      this.#screen = stream;
      // The browser's own "Stop sharing" ends the track: the page follows.
      stream.getVideoTracks()[0]?.addEventListener('ended', () => this.stopScreen());
      this.#changed();
      return true;
    } catch {
      return false;
    }
  }

  stopScreen(): void {
    if (this.#screen === undefined) return;
    stopAll(this.#screen);
    this.#screen = undefined;
    this.#changed();
  }

  /** Calls `listener` after every change of tracks or their enabled flags; returns the function that stops it. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Releases every device (the camera light goes off); this object is done. */
  stop(): void {
    this.#stopped = true;
    if (this.#camera !== undefined) stopAll(this.#camera);
    this.stopScreen();
    this.#camera = undefined;
    this.#changed();
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}

function stopAll(stream: MediaStream): void {
  for (const track of stream.getTracks()) track.stop();
}

function describeMediaError(error: unknown): string {
  const name = error instanceof DOMException ? error.name : '';
  if (name === 'NotAllowedError') return 'Camera and microphone are blocked for this page: allow them in the address bar to be seen and heard.';
  if (name === 'NotFoundError') return 'No camera or microphone was found: you can still see and hear the others.';
  if (name === 'NotReadableError') return 'The camera or microphone is in use by another program.';
  return `Camera and microphone are unavailable (${error instanceof Error ? error.message : String(error)}).`;
}
