/** A meeting as the page lives it: one ConferenceClient (both servers, so it
 *  fails over), the followed session, the local media and the mesh, and the
 *  state the UI renders, rebuilt on every change. Commands go out through the
 *  SDK; what confstate says decides what the UI shows and which local tracks
 *  are on — the page never trusts its own idea of who is muted. */

import { ConferenceClient, type ConferenceSession, type ConnectionStatus, isConferenceError } from '../../src/client/conference-client.ts';
import { participantOf } from '../../src/conference/mirror.ts';
import type { Actor, ParticipantView, Role, SessionSettings, SessionView } from '../../src/conference/model.ts';
import { refusalOf } from './abilities.ts';
import { announcementsOf } from './announcements.ts';
import { type Grant, forgetGrant } from './grants.ts';
import type { LocalKind, LocalMedia } from './local-media.ts';
import { Mesh } from './mesh.ts';
import { type ConnectionInfo, connectionInfo, hostOf, streamEpochOf } from './connection.ts';
import type { PageConfig } from './page-config.ts';
import type { RemoteMedia } from './peer.ts';

export type { ConnectionInfo };

export type GoneReason = 'left' | 'kicked' | 'denied' | 'ended' | 'closed';

/** Where the user is: each stage has its own screen. `refused` and `gone` stay until the user acts. */
export type Stage =
  | { readonly kind: 'connecting' }
  | { readonly kind: 'waiting_for_host' }
  | { readonly kind: 'joining' }
  | { readonly kind: 'lobby' }
  | { readonly kind: 'meeting' }
  | { readonly kind: 'refused'; readonly code: string; readonly message: string }
  | { readonly kind: 'gone'; readonly reason: GoneReason; readonly message: string };

export interface Notice {
  readonly id: number;
  readonly text: string;
  readonly tone: 'info' | 'warning' | 'error';
  /** Shown only while this participant waits in the lobby. */
  readonly whileInLobby?: string;
}

export interface MeetingState {
  readonly stage: Stage;
  readonly grant: Grant;
  readonly actor: Actor;
  readonly view: SessionView | undefined;
  readonly self: ParticipantView | undefined;
  readonly connection: ConnectionInfo;
  readonly localStream: MediaStream | undefined;
  readonly screenStream: MediaStream | undefined;
  readonly mediaProblem: string | undefined;
  readonly remote: ReadonlyMap<string, RemoteMedia>;
  readonly notices: readonly Notice[];
  /** The latest sentence for screen readers (an aria-live region), with a counter so a repeat is read again. */
  readonly announcement: { readonly text: string; readonly count: number };
  /** Keys of commands in flight (`mute:p-7`, `lock`…): their buttons wait. */
  readonly busy: ReadonlySet<string>;
  readonly config: PageConfig;
}

export interface MeetingOptions {
  readonly grant: Grant;
  readonly config: PageConfig;
  /** Servers in the order to try them (page-config.ts serverOrder). */
  readonly servers: readonly string[];
  readonly local: LocalMedia;
  /** Microphone and camera on when joining (the join screen's toggles). */
  readonly wants: { readonly audio: boolean; readonly video: boolean };
}

/** A dead connection (a laptop that slept, a cable pulled) is noticed within 9 s instead of the SDK's 25 s. */
const PING_INTERVAL_MS = 5_000;
const PONG_TIMEOUT_MS = 4_000;
const NOTICE_MS = { info: 6_000, warning: 8_000, error: 10_000 } as const;
/**
 * Welcomed by a secondary after a reconnect, the page writes to find the primary
 * this long after it lost its connection: a secondary promotes itself after the
 * demo's and the default failoverTimeoutMs (600 ms) without its primary (plus up
 * to a heartbeat, 100 ms), and writing before that would bounce between it and
 * the dead primary with growing backoff.
 */
const PROMOTION_WAIT_MS = 750;

export class Meeting {
  readonly #options: MeetingOptions;
  readonly #actor: Actor;
  readonly #client: ConferenceClient;
  readonly #session: ConferenceSession;
  readonly #mesh: Mesh;
  readonly #local: LocalMedia;
  #stage: Stage = { kind: 'connecting' };
  readonly #wants: { audio: boolean; video: boolean };
  /** Mute commands in flight: the track stays off meanwhile, whatever the view says yet. */
  readonly #muting = new Set<LocalKind>();
  readonly #publishing = new Set<string>();
  readonly #busy = new Set<string>();
  #previous: SessionView | undefined = undefined;
  #notices: Notice[] = [];
  #noticeCount = 0;
  #announcement = { text: '', count: 0 };
  #rejoined = false;
  /** Connections welcomed so far, and the epoch of the followed stream: a command that succeeds proves the server primary for this pair. */
  #welcomes = 0;
  #streamEpoch: number | undefined = undefined;
  #confirmedPrimary: { readonly welcome: number; readonly epoch: number | undefined } | undefined = undefined;
  #touchTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** When the last connection was lost (performance.now()), if one was. */
  #lostAtMs: number | undefined = undefined;
  #state: MeetingState;
  readonly #listeners = new Set<(state: MeetingState) => void>();
  readonly #stops: (() => void)[] = [];

  constructor(options: MeetingOptions) {
    this.#options = options;
    this.#local = options.local;
    this.#wants = { ...options.wants };
    const grant = options.grant;
    this.#actor = { kind: 'participant', id: grant.participant, tokenRole: grant.role };
    this.#client = new ConferenceClient({ urls: options.servers, token: grant.token, pingIntervalMs: PING_INTERVAL_MS, pongTimeoutMs: PONG_TIMEOUT_MS });
    this.#session = this.#client.session(grant.session);
    this.#mesh = new Mesh(grant.participant, this.#session, this.#local, () => this.#emit());
    this.#state = this.#build();
    this.#stops.push(
      this.#session.onChange((view) => this.#onView(view)),
      this.#session.onSignal((from, payload) => this.#mesh.handleSignal(from, payload)),
      this.#session.onUnsubscribed((reason) => this.#onUnsubscribed(reason)),
      this.#client.onStatus((status) => this.#onStatus(status)),
      this.#local.onChange(() => this.#onLocalMedia()),
    );
  }

  get state(): MeetingState {
    return this.#state;
  }

  /** Calls `listener` with every new state; returns the function that stops it. */
  subscribe(listener: (state: MeetingState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ---- the user's own media -------------------------------------------------

  /** Mutes at once (the track goes off before the server answers); unmutes when the server agrees. */
  toggleMicrophone(): void {
    this.#toggle('audio');
  }

  /** Camera off is the video track muted in confstate (and disabled here), as in every meeting app. */
  toggleCamera(): void {
    this.#toggle('video');
  }

  #toggle(kind: LocalKind): void {
    const track = this.#state.self?.tracks[kind];
    const label = kind === 'audio' ? 'microphone' : 'camera';
    if (this.#local.track(kind) === undefined) return this.#notify(`No ${label} is available: ${this.#local.problem ?? 'the browser gave none'}`, 'warning');
    if (track?.published !== true) {
      this.#wants[kind] = true;
      return this.#publishMissing();
    }
    if (!track.muted) {
      this.#wants[kind] = false;
      this.#muting.add(kind);
      this.#applyLocalTracks();
      this.#run(`self-${kind}`, this.#session.mute(this.#actor.id, kind), () => {
        this.#muting.delete(kind);
        this.#applyLocalTracks();
      });
      return;
    }
    const refused = refusalOf(this.#state.view, this.#actor, { type: 'unmute', participant: this.#actor.id, kind });
    if (refused !== undefined) {
      const by = this.#nameOf(track.mutedBy);
      return this.#notify(`You can't turn your ${label} back on: ${by ?? 'a host'} turned it off and participants may not undo that in this meeting.`, 'warning');
    }
    this.#wants[kind] = true;
    this.#run(`self-${kind}`, this.#session.unmute(this.#actor.id, kind));
  }

  /** Starts or stops sharing a screen: the browser's picker, then publish_track screen (or the reverse). */
  async toggleScreen(): Promise<void> {
    if (this.#local.screenStream !== undefined) {
      this.#local.stopScreen(); // #onLocalMedia unpublishes
      return;
    }
    const refused = refusalOf(this.#state.view, this.#actor, { type: 'publish_track', kind: 'screen' });
    if (refused !== undefined) return this.#notify('Only hosts and moderators may share their screen in this meeting.', 'warning');
    this.#publishing.add('screen');
    try {
      if (!(await this.#local.startScreen())) return;
      this.#mesh.syncScreen();
      await this.#session.publishTrack('screen');
    } catch (error) {
      this.#local.stopScreen();
      this.#notify(errorText(error), 'error');
    } finally {
      this.#publishing.delete('screen');
      this.#emit();
    }
  }

  toggleHand(): void {
    const raised = this.#state.self?.handPosition !== null && this.#state.self?.handPosition !== undefined;
    this.#run('hand', raised ? this.#session.lowerHand() : this.#session.raiseHand());
  }

  // ---- moderation (the page offers these only where abilities.ts allows) --------

  admit(participant: string): void {
    this.#run(`admit:${participant}`, this.#session.admit(participant));
  }

  deny(participant: string): void {
    this.#run(`admit:${participant}`, this.#session.deny(participant));
  }

  mute(participant: string): void {
    this.#run(`mute:${participant}`, this.#session.mute(participant, 'audio'));
  }

  muteAll(): void {
    this.#run('mute-all', this.#session.muteAll());
  }

  lowerHand(participant: string): void {
    this.#run(`hand:${participant}`, this.#session.lowerHand(participant));
  }

  kick(participant: string): void {
    this.#run(`kick:${participant}`, this.#session.kick(participant));
  }

  setRole(participant: string, role: Role): void {
    this.#run(`role:${participant}`, this.#session.setRole(participant, role));
  }

  setLocked(locked: boolean): void {
    this.#run('lock', locked ? this.#session.lock() : this.#session.unlock());
  }

  /** Resolves true once applied, false when refused (the refusal is shown as a notice). */
  updateSettings(settings: Partial<SessionSettings>): Promise<boolean> {
    return this.#run('settings', this.#session.updateSettings(settings));
  }

  end(): void {
    this.#run('end', this.#session.end());
  }

  /** Leaves at once for the user; the leave command and the client's close follow. */
  leave(): void {
    if (this.#stage.kind === 'gone') return;
    const leaving = this.#session.leave();
    this.#finish('left', 'You left the meeting.', leaving);
  }

  /** Asks to join again after a refusal (the meeting was locked or full). */
  retryJoin(): void {
    if (this.#stage.kind !== 'refused') return;
    this.#stage = { kind: 'joining' };
    this.#join();
  }

  dismissNotice(id: number): void {
    this.#notices = this.#notices.filter((notice) => notice.id !== id);
    this.#emit();
  }

  /** Closes everything (the page unloads, or the user starts over). */
  close(): void {
    clearTimeout(this.#touchTimer);
    for (const stop of this.#stops.splice(0)) stop();
    this.#mesh.closeAll();
    this.#local.stop();
    this.#client.close();
  }

  // ---- following the session -------------------------------------------------

  #onView(view: SessionView | undefined): void {
    this.#followEpoch();
    this.#advanceStage(view);
    if (this.#stage.kind !== 'gone') {
      for (const line of announcementsOf(this.#previous, view, this.#actor)) {
        if (line.notice) this.#notify(line.text, 'info', line.whileInLobby);
        else this.#say(line.text);
      }
      // "Bo is waiting" goes once Bo is let in, turned away or gone.
      this.#notices = this.#notices.filter((n) => n.whileInLobby === undefined || (view !== undefined && participantOf(view, n.whileInLobby)?.presence === 'lobby'));
    }
    this.#previous = view;
    this.#state = this.#build();
    if (this.#stage.kind === 'meeting') this.#publishMissing();
    this.#applyLocalTracks();
    this.#mesh.update(view, this.#stage.kind === 'meeting');
    this.#emit();
  }

  /** Moves between stages as the view says; joins (creating the session first when we are its host) when it is time. */
  #advanceStage(view: SessionView | undefined): void {
    const stage = this.#stage.kind;
    if (stage === 'gone' || stage === 'refused') return;
    const self = view === undefined ? undefined : participantOf(view, this.#actor.id);
    if (view?.phase === 'ended') return this.#finish('ended', 'The meeting has ended.');
    if (self?.presence === 'kicked') return this.#finish('kicked', 'You were removed from the meeting.');
    if (self?.presence === 'denied') return this.#finish('denied', 'The host did not let you in.');
    if (stage === 'connecting' && this.#session.state !== 'live') return;
    if (view === undefined) {
      if (stage === 'connecting' && this.#options.grant.role === 'host') return this.#createAndJoin();
      if (stage === 'connecting') this.#stage = { kind: 'waiting_for_host' };
      return;
    }
    if (stage === 'connecting' || stage === 'waiting_for_host') return this.#join();
    if (self?.presence === 'lobby') this.#stage = { kind: 'lobby' };
    else if (self?.presence === 'joined' || self?.presence === 'reconnecting') this.#stage = { kind: 'meeting' };
    else if (self?.presence === 'left' && stage !== 'joining') {
      // The server gave up on us (no connection for its grace period): join again once.
      if (this.#rejoined) return this.#finish('closed', 'You were disconnected from the meeting for too long.');
      this.#rejoined = true;
      this.#join();
    }
  }

  #createAndJoin(): void {
    this.#stage = { kind: 'joining' };
    const title = `${this.#options.grant.name}’s meeting`;
    this.#session.create({ title }).then(
      () => this.#join(),
      (error: unknown) => (isConferenceError(error, 'already_exists') ? this.#join() : this.#refuse(error)),
    );
  }

  #join(): void {
    this.#stage = { kind: 'joining' };
    this.#session.join(this.#options.grant.name).then(
      () => {
        this.#confirmPrimary();
        this.#onView(this.#session.view);
      },
      (error: unknown) => this.#refuse(error),
    );
    this.#emit();
  }

  #refuse(error: unknown): void {
    if (isConferenceError(error, 'session_ended')) return this.#finish('ended', 'The meeting has ended.');
    const code = isConferenceError(error) ? error.code : 'internal';
    this.#stage = { kind: 'refused', code, message: joinRefusalText(code, error) };
    this.#emit();
  }

  #onUnsubscribed(reason: string): void {
    if (reason === 'kicked') this.#finish('kicked', 'You were removed from the meeting.');
    else if (reason === 'denied') this.#finish('denied', 'The host did not let you in.');
    else this.#finish('closed', `The server stopped sending this meeting (${reason}).`);
  }

  #onStatus(status: ConnectionStatus): void {
    const before = this.#state.connection.state;
    if (before === 'connected' && status.state !== 'connected') this.#lostAtMs = performance.now();
    if (status.state === 'connected' && before !== 'connected') {
      this.#welcomes++;
      if (status.node?.role === 'secondary') this.#touchLater(this.#welcomes);
    }
    if (status.state === 'closed' && this.#stage.kind !== 'gone') {
      this.#finish('closed', `Disconnected: ${status.lastError?.message ?? 'the connection was closed'}.`);
      return;
    }
    if (before === 'reconnecting' && status.state === 'connected') {
      this.#mesh.afterReconnect();
      this.#say(status.failedOver ? `Reconnected, to the other server (${hostOf(status.url)}).` : 'Reconnected.');
    } else if (before === 'connected' && status.state === 'reconnecting') this.#say('Connection to the server lost; reconnecting. Audio and video continue.');
    this.#emit();
  }

  /** The browser's "Stop sharing", or our own stop: the screen track is withdrawn from the peers and from confstate. */
  #onLocalMedia(): void {
    const sharing = this.#local.screenStream !== undefined;
    this.#mesh.syncScreen();
    if (!sharing && this.#state.self?.tracks.screen?.published === true && !this.#publishing.has('screen')) {
      this.#run('screen', this.#session.unpublishTrack('screen'));
    }
    this.#emit();
  }

  // ---- local tracks follow confstate ------------------------------------------

  /**
   * In the meeting a track is on only while confstate has it published and
   * not muted (a host's mute turns ours off here). Before it, the preview
   * follows the join screen's toggles; nothing is sent then (no peers).
   */
  #applyLocalTracks(): void {
    const stage = this.#stage.kind;
    const self = this.#state.self;
    for (const kind of ['audio', 'video'] as const) {
      const track = self?.tracks[kind];
      const on = stage === 'meeting' ? track?.published === true && !track.muted && !this.#muting.has(kind) : stage !== 'gone' && this.#wants[kind];
      this.#local.setEnabled(kind, on);
    }
    if (stage === 'meeting' && this.#local.screenStream !== undefined && self?.tracks.screen?.published !== true && !this.#publishing.has('screen')) {
      this.#local.stopScreen(); // withdrawn by the server (we became a viewer)
    }
  }

  /** Announces our microphone and camera to the session once we are in (muted as the join screen said). */
  #publishMissing(): void {
    const self = this.#state.self;
    if (this.#stage.kind !== 'meeting' || self === undefined) return;
    for (const kind of ['audio', 'video'] as const) {
      if (this.#local.track(kind) === undefined || self.tracks[kind]?.published === true || this.#publishing.has(kind)) continue;
      if (refusalOf(this.#state.view, this.#actor, { type: 'publish_track', kind }) !== undefined) continue; // a viewer
      this.#publishing.add(kind);
      this.#session
        .publishTrack(kind, { muted: !this.#wants[kind] })
        .catch((error: unknown) => this.#notify(errorText(error), 'error'))
        .finally(() => {
          this.#publishing.delete(kind);
          this.#applyLocalTracks();
        });
    }
  }

  // ---- which server is the primary ------------------------------------------------

  /**
   * The followed stream's epoch changed: the server we are on was promoted or
   * demoted. Joining again (no change for a member already in) is a write:
   * a primary accepts it — which shows it is one — and a secondary answers
   * not_primary, on which the SDK moves us to the primary. Either way the page
   * re-attaches to the primary by itself. The same after a reconnect that
   * landed on a secondary (#touchLater).
   */
  #followEpoch(): void {
    const epoch = streamEpochOf(this.#session.position?.stream);
    if (epoch === this.#streamEpoch) return;
    const first = this.#streamEpoch === undefined;
    this.#streamEpoch = epoch;
    if (!first && epoch !== undefined) this.#touch();
  }

  /** On a secondary, once a promotion would have happened: still there and still unconfirmed, write to find the primary. */
  #touchLater(welcome: number): void {
    clearTimeout(this.#touchTimer);
    const waitMs = Math.max(0, (this.#lostAtMs ?? performance.now()) + PROMOTION_WAIT_MS - performance.now());
    this.#touchTimer = setTimeout(() => {
      if (this.#welcomes === welcome && this.#client.status.state === 'connected' && this.#state.connection.nodeRole !== 'primary') this.#touch();
    }, waitMs);
  }

  /** Joins again — no change for a member already in, but a write: only the primary accepts it. */
  #touch(): void {
    const stage = this.#stage.kind;
    if (stage !== 'meeting' && stage !== 'lobby') return;
    this.#session.join(this.#options.grant.name).then(
      () => this.#confirmPrimary(),
      () => undefined, // a refusal here changes nothing; the view says where we stand
    );
  }

  /** A command just succeeded: the server this connection goes to is the primary at the stream's epoch. */
  #confirmPrimary(): void {
    if (this.#client.status.state !== 'connected') return;
    this.#confirmedPrimary = { welcome: this.#welcomes, epoch: this.#streamEpoch };
    this.#emit();
  }

  // ---- helpers ---------------------------------------------------------------

  /** Runs a command, marking `key` busy meanwhile; a refusal becomes a notice. Resolves whether it was applied. */
  #run(key: string, command: Promise<unknown>, settled?: () => void): Promise<boolean> {
    this.#busy.add(key);
    this.#emit();
    return command
      .then(
        () => (this.#confirmPrimary(), true),
        (error: unknown) => (this.#notify(errorText(error), 'error'), false),
      )
      .finally(() => {
        this.#busy.delete(key);
        settled?.();
        this.#emit();
      });
  }

  #finish(reason: GoneReason, message: string, leaving?: Promise<unknown>): void {
    if (this.#stage.kind === 'gone') return;
    this.#stage = { kind: 'gone', reason, message };
    if (reason !== 'left' && reason !== 'closed') forgetGrant(this.#options.grant.session); // nothing to rejoin
    this.#mesh.closeAll();
    this.#local.stop();
    void (leaving ?? Promise.resolve())
      .catch(() => undefined)
      .finally(() => this.#client.close());
    this.#say(message);
    this.#emit();
  }

  #nameOf(participant: string | null | undefined): string | undefined {
    if (participant === null || participant === undefined || this.#state.view === undefined) return undefined;
    return participantOf(this.#state.view, participant)?.name;
  }

  #notify(text: string, tone: Notice['tone'], whileInLobby?: string): void {
    const notice: Notice = { id: ++this.#noticeCount, text, tone, ...(whileInLobby === undefined ? {} : { whileInLobby }) };
    this.#notices = [...this.#notices.slice(-3), notice];
    setTimeout(() => this.dismissNotice(notice.id), NOTICE_MS[tone]);
    this.#say(text);
    this.#emit();
  }

  /** Read out by screen readers (the aria-live region), not shown. */
  #say(text: string): void {
    this.#announcement = { text, count: this.#announcement.count + 1 };
  }

  #emit(): void {
    this.#state = this.#build();
    for (const listener of this.#listeners) listener(this.#state);
  }

  #build(): MeetingState {
    const view = this.#session.view;
    return {
      stage: this.#stage,
      grant: this.#options.grant,
      actor: this.#actor,
      view,
      self: view === undefined ? undefined : participantOf(view, this.#actor.id),
      connection: connectionInfo(this.#client.status, this.#streamEpoch, this.#confirmedPrimary?.welcome === this.#welcomes && this.#confirmedPrimary.epoch === this.#streamEpoch),
      localStream: this.#local.stream,
      screenStream: this.#local.screenStream,
      mediaProblem: this.#local.problem,
      remote: this.#mesh.allMedia(),
      notices: this.#notices,
      announcement: this.#announcement,
      busy: new Set(this.#busy),
      config: this.#options.config,
    };
  }
}

/** What the user reads when a command was refused. */
export function errorText(error: unknown): string {
  if (!isConferenceError(error)) return `Something went wrong: ${error instanceof Error ? error.message : String(error)}`;
  switch (error.code) {
    case 'forbidden':
      return 'You are not allowed to do that in this meeting.';
    case 'not_member':
      return 'That person is no longer in the meeting.';
    case 'session_ended':
      return 'The meeting has ended.';
    case 'timeout':
      return 'The server did not answer in time; it may still have happened.';
    case 'session_full':
      return 'The meeting is full.';
    default:
      return `That did not work (${error.code}): ${error.message}`;
  }
}

function joinRefusalText(code: string, error: unknown): string {
  switch (code) {
    case 'session_locked':
      return 'This meeting is locked: nobody new may join. Ask a host to unlock it, then try again.';
    case 'session_full':
      return 'This meeting is full. Try again when someone has left.';
    case 'forbidden':
      return 'You cannot join this meeting: you were removed from it, or turned away from its lobby.';
    default:
      return errorText(error);
  }
}
