/** One subscribed session as the SDK follows it: the local mirror, the stream
 *  position to resume from, and the rules for snapshots, resumes and numbered
 *  deltas — applied only when gapless, duplicates ignored, a gap answered by a
 *  resubscribe. Pure: knows no socket; the caller sends the messages it returns. */

import type { ClientMessage, ServerMessage, StreamPosition } from '../conference/api.ts';
import { SessionMirror } from '../conference/mirror.ts';
import type { SessionView } from '../conference/model.ts';

/** `subscribing`: a subscribe is on its way (or will be sent on connect); `live`: deltas apply; `unsubscribed`: the server ended it. */
export type StreamState = 'subscribing' | 'live' | 'unsubscribed';

/** What a delta did: applied; seq already held (ignored); arrived while not live (ignored); or showed a gap (resubscribe). */
export type DeltaOutcome = 'applied' | 'duplicate' | 'not_live' | 'gap';

/** What a `resumed` did: made the stream live; or did not match the position asked for (forget it, subscribe afresh); or answered no resume at all (a server bug). */
export type ResumedOutcome = 'live' | 'resubscribe' | 'unexpected';

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
 * assert.equal(stream.handleDelta({ type: 'delta', session: 'standup', seq: 5, changes: [change] }), 'duplicate');
 * assert.equal(stream.handleDelta({ type: 'delta', session: 'standup', seq: 7, changes: [] }), 'gap');
 * // After a gap the stream asks to resume from the last seq it applied.
 * assert.deepEqual(stream.subscribeMessage(), { type: 'subscribe', session: 'standup', resume: { stream: 'n1', seq: 5 } });
 * assert.equal(stream.view?.title, 'Stand-up');
 * ```
 */
export class SessionStream {
  readonly mirror: SessionMirror;
  #position: StreamPosition | undefined = undefined;
  #state: StreamState = 'subscribing';
  #unsubscribedReason: string | null = null;
  /** Set after a refusal that passes (`rate_limited`): subscribe again at this time. */
  resubscribeAtMs: number | undefined = undefined;
  /** Passing refusals in a row (the backoff's exponent); reset by a snapshot or resume. */
  refusals = 0;

  constructor(readonly session: string) {
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

  /** The subscribe to send now (on connect, or after a gap): resumes from the position when there is one. */
  subscribeMessage(): ClientMessage {
    this.#state = 'subscribing';
    this.#unsubscribedReason = null;
    this.resubscribeAtMs = undefined;
    const position = this.#position;
    return position === undefined ? { type: 'subscribe', session: this.session } : { type: 'subscribe', session: this.session, resume: position };
  }

  /** A whole state replaces the mirror (also an unasked one: the server may re-send it at any time). */
  handleSnapshot(message: Snapshot): void {
    if (this.#state === 'unsubscribed') return;
    this.mirror.load(message.elements);
    this.#position = { stream: message.stream, seq: message.seq };
    this.#state = 'live';
    this.refusals = 0;
  }

  handleResumed(message: Resumed): ResumedOutcome {
    if (this.#state !== 'subscribing') return 'unexpected';
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
    for (const change of message.changes) this.mirror.apply(change);
    this.#position = { stream: position.stream, seq: message.seq };
    return 'applied';
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
