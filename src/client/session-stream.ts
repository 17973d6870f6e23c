/** One subscribed session as the SDK follows it: the local mirror, the stream
 *  position to resume from, and the rules for snapshots, resumes and numbered
 *  deltas — applied only when gapless, duplicates ignored, a gap answered by a
 *  resubscribe. A resume says what the mirror holds (`known`), so a server
 *  that cannot replay the stream bridges it exactly; a snapshot that arrives
 *  while the mirror holds something is reconciled, not loaded over it. Each
 *  input leaves the element changes it made for `takeChanges`. Pure: knows no
 *  socket; the caller sends the messages it returns. */

import type { ClientMessage, KnownElement, ServerMessage, StreamPosition, WelcomeLimits } from '../conference/api.ts';
import { SessionMirror } from '../conference/mirror.ts';
import type { ElementState, SessionView } from '../conference/model.ts';

/** `subscribing`: a subscribe is on its way (or will be sent on connect); `live`: deltas apply; `unsubscribed`: the server ended it. */
export type StreamState = 'subscribing' | 'live' | 'unsubscribed';

/** What a delta did: applied; seq already held (ignored); arrived while not live (ignored); or showed a gap (resubscribe). */
export type DeltaOutcome = 'applied' | 'duplicate' | 'not_live' | 'gap';

/**
 * What a `resumed` did: made the stream live (`bridged`: on the server's
 * current stream, after applying the bridging changes); or did not match the
 * position asked for (forget it, subscribe afresh); or answered no resume at
 * all (a server bug).
 */
export type ResumedOutcome = 'live' | 'bridged' | 'resubscribe' | 'unexpected';

/** How much of the mirror a resume describes in `known`; beyond either bound it is left out (and a server that cannot replay answers a snapshot). */
export interface KnownLimits {
  /** Entries at most: the server's limits.resumeKnownMax (a longer list is refused). */
  readonly resumeKnownMax: number;
  /** The whole subscribe message, as JSON, at most: under the server's limits.wsMessageBytesMax (a larger frame closes the connection). */
  readonly resumeKnownBytesMax: number;
}

/** The server defaults allow 2,000 entries and 80 KiB messages. */
export const KNOWN_LIMITS_DEFAULT: KnownLimits = { resumeKnownMax: 2_000, resumeKnownBytesMax: 64 * 1024 };

type Snapshot = Extract<ServerMessage, { type: 'snapshot' }>;
type Resumed = Extract<ServerMessage, { type: 'resumed' }>;
type Delta = Extract<ServerMessage, { type: 'delta' }>;

/**
 * Follows one session's stream of snapshots and deltas into a SessionMirror.
 *
 * @example
 * ```ts
 * const stream = new SessionStream('standup');
 * assert.deepEqual(stream.subscribeMessage(), { type: 'subscribe', session: 'standup' });
 * stream.handleSnapshot({ type: 'snapshot', session: 'standup', stream: 'n1', seq: 4, elements: [], resumed: false, reason: null });
 * const change = { key: 's/standup/meta', ts: 10, value: { title: 'Stand-up', organizer: 'ada', createdAtMs: 0, scheduledAtMs: null } };
 * assert.equal(stream.handleDelta({ type: 'delta', session: 'standup', seq: 5, changes: [change] }), 'applied');
 * assert.deepEqual(stream.takeChanges(), [change]);
 * assert.equal(stream.handleDelta({ type: 'delta', session: 'standup', seq: 5, changes: [change] }), 'duplicate');
 * assert.equal(stream.handleDelta({ type: 'delta', session: 'standup', seq: 7, changes: [] }), 'gap');
 * // After a gap the stream asks to resume from the last seq it applied, saying what its mirror holds.
 * assert.deepEqual(stream.subscribeMessage(), { type: 'subscribe', session: 'standup', resume: { stream: 'n1', seq: 5 }, known: [['s/standup/meta', 10]] });
 * // Another node (after a failover) bridges from there: its stream, its seq, the changes the mirror missed.
 * const hand = { key: 's/standup/hand/ada', ts: 12, value: { raisedAtMs: 0 } };
 * assert.equal(stream.handleResumed({ type: 'resumed', session: 'standup', stream: 'n2', seq: 0, changes: [hand], reason: 'another stream' }), 'bridged');
 * assert.deepEqual([stream.takeChanges(), stream.position], [[hand], { stream: 'n2', seq: 0 }]);
 * assert.equal(stream.view?.title, 'Stand-up');
 * ```
 */
export class SessionStream {
  readonly mirror: SessionMirror;
  #position: StreamPosition | undefined = undefined;
  #state: StreamState = 'subscribing';
  #unsubscribedReason: string | null = null;
  /** The mirror was loaded from a snapshot: later snapshots are reconciled into it. */
  #loaded = false;
  /** The last subscribe sent carried `known`. */
  #knownSent = false;
  /** The next subscribe leaves `known` out (the server refused one). */
  #omitKnown = false;
  /** Element changes the last inputs made to the mirror, until `takeChanges`. */
  #changes: ElementState[] = [];
  /** Set after a refusal that passes (`rate_limited`): subscribe again at this time. */
  resubscribeAtMs: number | undefined = undefined;
  /** Passing refusals in a row (the backoff's exponent); reset by a snapshot or resume. */
  refusals = 0;

  constructor(
    readonly session: string,
    readonly knownLimits: KnownLimits = KNOWN_LIMITS_DEFAULT,
  ) {
    this.mirror = new SessionMirror(session);
  }

  /** Where to resume from: the stream and the last seq applied; undefined before the first snapshot. */
  get position(): StreamPosition | undefined {
    return this.#position;
  }

  get state(): StreamState {
    return this.#state;
  }

  /** Why the server ended the subscription, while `state` is `unsubscribed`. */
  get unsubscribedReason(): string | null {
    return this.#unsubscribedReason;
  }

  /** The mirror's view: undefined until the session's `meta` element is known. */
  get view(): SessionView | undefined {
    return this.mirror.view();
  }

  /**
   * The subscribe to send now (on connect, or after a gap): resumes from the
   * position when there is one, with `known` — the mirror's live elements —
   * unless that exceeds `knownLimits`, or the `server`'s limits from its
   * welcome (a message over its size would close the connection, and the
   * same subscribe after reconnecting would close it again), or the server
   * refused it just before.
   */
  subscribeMessage(server?: WelcomeLimits): ClientMessage {
    this.#state = 'subscribing';
    this.#unsubscribedReason = null;
    this.resubscribeAtMs = undefined;
    this.#knownSent = false;
    const position = this.#position;
    if (position === undefined) return { type: 'subscribe', session: this.session };
    const plain: ClientMessage = { type: 'subscribe', session: this.session, resume: position };
    const omit = this.#omitKnown;
    this.#omitKnown = false;
    const elements = this.mirror.elements();
    const countMax = Math.min(this.knownLimits.resumeKnownMax, server?.resumeKnownMax ?? Number.POSITIVE_INFINITY);
    if (omit || elements.length > countMax) return plain;
    const known = elements.map((element): KnownElement => [element.key, element.ts]);
    const message: ClientMessage = { ...plain, known };
    // Keys and ids are ASCII, so characters are bytes.
    const bytesMax = Math.min(this.knownLimits.resumeKnownBytesMax, server?.messageBytesMax ?? Number.POSITIVE_INFINITY);
    if (JSON.stringify(message).length > bytesMax) return plain;
    this.#knownSent = true;
    return message;
  }

  /**
   * The changes the mirror took since the last call, in the order applied —
   * each a real change (a newer timestamp, or a deletion: `value` null). What
   * the application is told.
   */
  takeChanges(): ElementState[] {
    const changes = this.#changes;
    this.#changes = [];
    return changes;
  }

  /**
   * A whole state (also an unasked one: the server may re-send it at any
   * time). The first loads the mirror; a later one is reconciled into it (per
   * key the newer timestamp wins, a key it lacks is deleted), so only real
   * differences become changes.
   */
  handleSnapshot(message: Snapshot): void {
    if (this.#state === 'unsubscribed') return;
    this.#changes.push(...(this.#loaded ? this.mirror.reconcile(message.elements) : this.mirror.load(message.elements)));
    this.#loaded = true;
    this.#position = { stream: message.stream, seq: message.seq };
    this.#state = 'live';
    this.refusals = 0;
  }

  handleResumed(message: Resumed): ResumedOutcome {
    if (this.#state !== 'subscribing') return 'unexpected';
    if (message.changes !== undefined) return this.#bridge(message, message.changes);
    const position = this.#position;
    if (position === undefined) return 'unexpected';
    if (message.stream !== position.stream || message.seq !== position.seq) {
      // Resuming at another seq would apply deltas against the wrong base; a snapshot is always safe.
      this.#position = undefined;
      return 'resubscribe';
    }
    this.#state = 'live';
    this.refusals = 0;
    return 'live';
  }

  handleDelta(message: Delta): DeltaOutcome {
    if (this.#state !== 'live') return 'not_live';
    const position = this.#position!;
    if (message.seq <= position.seq) return 'duplicate';
    if (message.seq !== position.seq + 1) return 'gap';
    for (const change of message.changes) if (this.mirror.apply(change)) this.#changes.push(change);
    this.#position = { stream: position.stream, seq: message.seq };
    return 'applied';
  }

  /**
   * A `known` the server refused (an `error` while this subscribe waits: its
   * limit is lower than ours, or it found the list malformed): true when the
   * caller should subscribe again, this time without `known`.
   */
  handleKnownRefused(): boolean {
    if (this.#state !== 'subscribing' || !this.#knownSent) return false;
    this.#omitKnown = true;
    return true;
  }

  /**
   * A bridge from the mirror the last subscribe described to the server's
   * state at `seq` of its (possibly new) stream. The mirror has not changed
   * since (nothing applies while subscribing), so applying the changes makes
   * it that state; the deltas after `seq` follow.
   */
  #bridge(message: Resumed, changes: readonly ElementState[]): ResumedOutcome {
    if (!this.#loaded || this.#position === undefined) return 'unexpected';
    for (const change of changes) if (this.mirror.apply(change)) this.#changes.push(change);
    this.#position = { stream: message.stream, seq: message.seq };
    this.#state = 'live';
    this.refusals = 0;
    return 'bridged';
  }

  /** The connection is gone: nothing applies until the next snapshot or resume. */
  handleDisconnect(): void {
    if (this.#state === 'live') this.#state = 'subscribing';
  }

  handleUnsubscribed(reason: string): void {
    this.#state = 'unsubscribed';
    this.#unsubscribedReason = reason;
  }

  /** The server refused the subscribe for a reason that passes: stay `subscribing`, ask again at `atMs`. */
  handleRefusedForNow(atMs: number): void {
    this.#state = 'subscribing';
    this.resubscribeAtMs = atMs;
    this.refusals++;
  }
}
