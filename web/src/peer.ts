/** One WebRTC connection to another member of the meeting. The first offer
 *  comes from one side only (the mesh picks it), because Chrome gathers no ICE
 *  candidates after rolling back a first offer; later renegotiations (a screen
 *  share) use "perfect negotiation": either side may offer, and when both do at
 *  once the polite side rolls its offer back. Every signal names the
 *  connection instance it comes from and goes to, so the mesh recognises a
 *  peer that started afresh and drops signals meant for an older connection.
 *  It knows neither confstate nor the UI: signals leave through `send`. */

import type { LocalMedia } from './local-media.ts';
import type { PeerSignal } from './signal.ts';

/** What the page shows of a peer. */
export interface RemoteMedia {
  readonly camera: MediaStream | undefined;
  readonly screen: MediaStream | undefined;
  readonly state: RTCPeerConnectionState;
}

export interface PeerOptions {
  readonly remoteId: string;
  /** On glare the polite side gives way; the two sides must disagree (the mesh compares participant ids). */
  readonly polite: boolean;
  /** Offers as soon as it is made; otherwise it waits for the remote's first offer and answers it. */
  readonly offerFirst: boolean;
  readonly local: LocalMedia;
  /** Relays a signal to the remote member; false when it could not be sent now (the watchdog recovers). */
  readonly send: (signal: PeerSignal) => boolean;
  /** Called when the remote media or the connection state changed. */
  readonly changed: () => void;
  readonly nowMs: () => number;
}

/** An id for one connection instance: random, short, never reused. */
function newInstanceId(): string {
  return [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export class Peer {
  readonly instance = newInstanceId();
  /** The remote connection instance this one talks to; null until its first signal. */
  remoteInstance: string | null = null;
  /** When signalling last left `stable` (undefined while stable): the mesh's watchdog reads it. */
  unstableSinceMs: number | undefined = undefined;
  /** When this connection was made; with `connectedOnce`, how the watchdog tells a connection that never came up. */
  readonly createdAtMs: number;
  connectedOnce = false;
  readonly #pc: RTCPeerConnection;
  readonly #options: PeerOptions;
  #makingOffer = false;
  /** False until the first description is exchanged when this side does not offer first. */
  #mayOffer: boolean;
  #ignoreOffer = false;
  #remoteScreenId: string | null = null;
  #camera: MediaStream | undefined = undefined;
  #screen: MediaStream | undefined = undefined;
  #screenSender: RTCRtpSender | undefined = undefined;
  /** Incoming signals are handled one at a time, in order. */
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: PeerOptions) {
    this.#options = options;
    this.#mayOffer = options.offerFirst;
    this.createdAtMs = options.nowMs();
    // Loopback and LAN only: no STUN or TURN server is asked (docs/WEB.md).
    const pc = (this.#pc = new RTCPeerConnection({ iceServers: [] }));
    pc.onnegotiationneeded = () => {
      if (this.#mayOffer) void this.#offer();
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate !== null) this.#send({ candidate: candidate.toJSON() });
    };
    pc.ontrack = (event) => this.#onTrack(event);
    pc.onconnectionstatechange = () => {
      // A path that died (a network change) is searched again rather than given up.
      if (pc.connectionState === 'failed') pc.restartIce();
      if (pc.connectionState === 'connected') this.connectedOnce = true;
      options.changed();
    };
    pc.onsignalingstatechange = () => {
      this.unstableSinceMs = pc.signalingState === 'stable' ? undefined : (this.unstableSinceMs ?? options.nowMs());
    };
    this.#addLocalTracks();
  }

  get remoteId(): string {
    return this.#options.remoteId;
  }

  get media(): RemoteMedia {
    return { camera: this.#camera, screen: this.#screen, state: this.#pc.connectionState };
  }

  get signalingState(): RTCSignalingState {
    return this.#pc.signalingState;
  }

  get connectionState(): RTCPeerConnectionState {
    return this.#pc.connectionState;
  }

  /** Queues a signal from the remote instance (the mesh has checked it is for this connection). */
  handle(signal: PeerSignal): void {
    this.#queue = this.#queue
      .then(() => this.#handle(signal))
      .catch((error: unknown) => console.warn(`signal from ${this.remoteId} failed:`, error));
  }

  /** Sends the screen share when the page shares one, and stops sending it when it stops (a renegotiation). */
  syncScreen(): void {
    if (this.#closed) return;
    const track = this.#options.local.track('screen');
    const stream = this.#options.local.screenStream;
    if (track !== undefined && stream !== undefined && this.#screenSender === undefined) this.#screenSender = this.#pc.addTrack(track, stream);
    else if (track === undefined && this.#screenSender !== undefined) {
      this.#pc.removeTrack(this.#screenSender);
      this.#screenSender = undefined;
    }
  }

  /** Looks for a network path again (after the signalling server came back, or a failure). */
  restartIce(): void {
    if (!this.#closed) this.#pc.restartIce();
  }

  /** An offer of ours that got no answer (lost while the server was away) is withdrawn and made again. */
  async retryOffer(): Promise<void> {
    if (this.#closed || this.#pc.signalingState !== 'have-local-offer') return;
    try {
      await this.#pc.setLocalDescription({ type: 'rollback' });
      await this.#offer();
    } catch (error) {
      console.warn(`offer to ${this.remoteId} could not be made again:`, error);
    }
  }

  close(): void {
    this.#closed = true;
    this.#pc.close();
  }

  /** Camera tracks go out from the start (disabled while muted); a missing kind is still received. */
  #addLocalTracks(): void {
    const { local } = this.#options;
    for (const kind of ['audio', 'video'] as const) {
      const track = local.track(kind);
      if (track !== undefined && local.stream !== undefined) this.#pc.addTrack(track, local.stream);
      else this.#pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    this.syncScreen();
  }

  async #offer(): Promise<void> {
    try {
      this.#makingOffer = true;
      await this.#pc.setLocalDescription();
      this.#sendDescription();
    } catch (error) {
      console.warn(`offer to ${this.remoteId} failed:`, error);
    } finally {
      this.#makingOffer = false;
    }
  }

  async #handle(signal: PeerSignal): Promise<void> {
    if (this.#closed) return;
    const pc = this.#pc;
    if (signal.description !== undefined) {
      this.#noteRemoteScreen(signal.screen);
      const description = signal.description;
      const collision = description.type === 'offer' && (this.#makingOffer || pc.signalingState !== 'stable');
      this.#ignoreOffer = !this.#options.polite && collision;
      if (this.#ignoreOffer) return;
      await pc.setRemoteDescription(description); // a polite peer's own offer is rolled back implicitly
      this.#mayOffer = true;
      if (description.type === 'offer') {
        await pc.setLocalDescription();
        this.#sendDescription();
      }
    } else if (signal.candidate !== undefined) {
      try {
        await pc.addIceCandidate(signal.candidate);
      } catch (error) {
        if (!this.#ignoreOffer) throw error; // candidates of an offer we ignored are expected to fail
      }
    }
  }

  #noteRemoteScreen(screen: string | null | undefined): void {
    if (screen === undefined) return;
    this.#remoteScreenId = screen;
    if (screen === null && this.#screen !== undefined) {
      this.#screen = undefined;
      this.#options.changed();
    }
  }

  #onTrack(event: RTCTrackEvent): void {
    const stream = event.streams[0] ?? new MediaStream([event.track]);
    if (stream.id === this.#remoteScreenId) this.#screen = stream;
    else this.#camera = stream;
    const changed = (): void => this.#options.changed();
    event.track.addEventListener('unmute', changed);
    event.track.addEventListener('ended', changed);
    stream.addEventListener('removetrack', changed);
    changed();
  }

  #sendDescription(): void {
    const description = this.#pc.localDescription;
    if (description === null) return;
    this.#send({ description: { type: description.type, sdp: description.sdp }, screen: this.#options.local.screenStream?.id ?? null });
  }

  #send(body: Pick<PeerSignal, 'description' | 'candidate' | 'screen'>): void {
    if (this.#closed) return;
    this.#options.send({ v: 1, from: this.instance, to: this.remoteInstance, ...body });
  }
}
