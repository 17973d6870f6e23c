/** The page's WebRTC mesh: one Peer per other member present in the meeting,
 *  opened and closed as the session's view changes, with every offer, answer
 *  and ICE candidate relayed by confstate (`session.signal` / `onSignal`,
 *  which the server delivers only within the session). It owns the watchdog
 *  that restarts a negotiation a lost signal left half-way. */

import type { SessionView } from '../../src/conference/model.ts';
import type { LocalMedia } from './local-media.ts';
import { Peer, type RemoteMedia } from './peer.ts';
import { parsePeerSignal } from './signal.ts';

/** The part of a ConferenceSession the mesh uses. */
export interface SignalPort {
  /** False when not connected: signals are never queued (a stale offer would do harm). */
  signal(to: string, payload: unknown): boolean;
}

/** How often the watchdog looks; how long an offer may wait for its answer; how long a connection may take to come up. */
const WATCHDOG_INTERVAL_MS = 2_000;
const OFFER_UNANSWERED_MS = 6_000;
const CONNECTION_SETUP_MS = 12_000;

export class Mesh {
  readonly #peers = new Map<string, Peer>();
  readonly #selfId: string;
  readonly #port: SignalPort;
  readonly #local: LocalMedia;
  readonly #changed: () => void;
  #active = false;
  #watchdog: ReturnType<typeof setInterval> | undefined = undefined;

  constructor(selfId: string, port: SignalPort, local: LocalMedia, changed: () => void) {
    this.#selfId = selfId;
    this.#port = port;
    this.#local = local;
    this.#changed = changed;
  }

  /**
   * Follows the view: while we are present ourselves, a peer for every other
   * present member (joined or reconnecting — media may still flow while their
   * signalling reconnects), none for those gone or in the lobby. Of each pair
   * the side with the smaller id opens first and offers; the other answers.
   */
  update(view: SessionView | undefined, selfPresent: boolean): void {
    this.#active = selfPresent && view !== undefined;
    if (!this.#active || view === undefined) return this.closeAll();
    this.#watchdog ??= setInterval(() => this.#watch(), WATCHDOG_INTERVAL_MS);
    for (const participant of view.participants) {
      if (participant.id === this.#selfId) continue;
      const present = participant.presence === 'joined' || participant.presence === 'reconnecting';
      const peer = this.#peers.get(participant.id);
      if (present && peer === undefined && this.#offersFirstTo(participant.id)) this.#open(participant.id, true);
      else if (!present && peer !== undefined) this.#close(participant.id);
    }
  }

  /** A relayed signal from member `from`: for the current connection, a new one of theirs, or stale. */
  handleSignal(from: string, payload: unknown): void {
    const signal = parsePeerSignal(payload);
    if (!this.#active || signal === undefined || from === this.#selfId) return;
    let peer = this.#peers.get(from);
    // Meant for a connection of ours that no longer exists (we restarted it): drop.
    if (signal.to !== null && signal.to !== peer?.instance) return;
    // Their side started afresh (a reload, or their watchdog): so does ours.
    if (peer !== undefined && peer.remoteInstance !== null && peer.remoteInstance !== signal.from) {
      this.#close(from);
      peer = undefined;
    }
    peer ??= this.#open(from, false);
    peer.remoteInstance ??= signal.from;
    peer.handle(signal);
  }

  /**
   * After the signalling connection came back (to the same server or, after a
   * failover, the other): a negotiation under way may have lost a message, so it
   * starts again; an established connection keeps its media flowing untouched.
   */
  afterReconnect(): void {
    for (const peer of [...this.#peers.values()]) {
      if (peer.connectionState !== 'connected' && this.#offersFirstTo(peer.remoteId)) this.#restart(peer.remoteId);
      else if (peer.signalingState === 'have-local-offer') void peer.retryOffer();
    }
  }

  /** The screen share started or stopped: every peer renegotiates. */
  syncScreen(): void {
    for (const peer of this.#peers.values()) peer.syncScreen();
  }

  media(participant: string): RemoteMedia | undefined {
    return this.#peers.get(participant)?.media;
  }

  /** Every peer's media, by participant id. */
  allMedia(): Map<string, RemoteMedia> {
    return new Map([...this.#peers].map(([id, peer]) => [id, peer.media]));
  }

  closeAll(): void {
    for (const id of [...this.#peers.keys()]) this.#close(id);
    if (this.#watchdog !== undefined) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  /** Ids differ, so exactly one side of each pair offers first — and is the impolite one on glare. */
  #offersFirstTo(remoteId: string): boolean {
    return this.#selfId < remoteId;
  }

  #open(remoteId: string, offerFirst: boolean): Peer {
    const peer = new Peer({
      remoteId,
      polite: !this.#offersFirstTo(remoteId),
      offerFirst,
      local: this.#local,
      send: (signal) => this.#port.signal(remoteId, signal),
      changed: this.#changed,
      nowMs: () => performance.now(),
    });
    this.#peers.set(remoteId, peer);
    this.#changed();
    return peer;
  }

  #close(remoteId: string): void {
    this.#peers.get(remoteId)?.close();
    this.#peers.delete(remoteId);
    this.#changed();
  }

  /** A new connection instance that offers at once: the remote side sees the new instance and starts afresh too. */
  #restart(remoteId: string): void {
    this.#close(remoteId);
    this.#open(remoteId, true);
  }

  /**
   * An offer without an answer (lost while the server was away) is made again;
   * a connection that never came up is started afresh by the side that offers
   * first (both doing it at once would collide).
   */
  #watch(): void {
    const nowMs = performance.now();
    for (const peer of [...this.#peers.values()]) {
      const stuck = peer.unstableSinceMs !== undefined && nowMs - peer.unstableSinceMs > OFFER_UNANSWERED_MS;
      const neverUp = !peer.connectedOnce && nowMs - peer.createdAtMs > CONNECTION_SETUP_MS;
      if (neverUp && this.#offersFirstTo(peer.remoteId)) this.#restart(peer.remoteId);
      else if (stuck && peer.signalingState === 'have-local-offer') void peer.retryOffer();
    }
  }
}
