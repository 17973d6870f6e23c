/** The hub numbers each session's changes into deltas — seq = previous + 1,
 *  no gaps — from the node's change feed, fans each delta out to the
 *  session's subscribers as one serialised text, and keeps the last deltas
 *  of a session in a bounded ring so a client can resume. It does not know
 *  sockets, tokens or commands: a subscriber is anything with `send(text)`.
 *
 *  - Changes of one turn are gathered per session and sent as one delta at
 *    the end of the turn (a microtask), or at once when `deltaChangesMax` gather.
 *  - A snapshot first flushes what is gathered, so snapshot seq N holds
 *    exactly the state after delta N.
 *  - A stream id names this server instance, the node's epoch and the
 *    session's stream generation: a seq from any other stream never applies.
 *  - A resume the ring cannot serve (another stream: after a failover, an
 *    epoch change, a restart; or deltas no longer held) is bridged when the
 *    client said what its mirror holds (`known`): `resumed` on the current
 *    stream with the changes from that mirror to the session now
 *    (resume-bridge.ts). Without `known`, or when no exact bridge exists, a
 *    snapshot flagged with the reason. */

import type { KnownElement, ServerMessage, StreamPosition } from '../conference/api.ts';
import type { ElementState } from '../conference/model.ts';
import { assert } from '../core/assert.ts';
import { bridgeChanges } from './resume-bridge.ts';
import type { Change, StateNode } from './state-node.ts';

export interface HubSubscriber {
  /** Sends one serialised server message; the subscriber applies its own backpressure policy. */
  send(text: string): void;
}

export interface HubLimits {
  readonly resumeDeltasMax: number;
  readonly resumeSessionsMax: number;
  readonly deltaChangesMax: number;
}

interface HeldDelta {
  readonly seq: number;
  readonly text: string;
}

interface Stream {
  readonly session: string;
  readonly id: string;
  seq: number;
  /** Circular buffer of the last deltas: `ring[(start + i) % max]` for i < length. */
  readonly ring: HeldDelta[];
  start: number;
  pending: ElementState[];
  readonly subscribers: Set<HubSubscriber>;
}

export class Hub {
  readonly #streams = new Map<string, Stream>();
  readonly #dirty = new Set<Stream>();
  readonly #unsubscribe: () => void;
  #flushScheduled = false;
  #generation = 0;
  #epoch: number;

  constructor(
    readonly node: StateNode,
    readonly limits: HubLimits,
    /** Random per server start. */
    readonly instanceId: string,
  ) {
    this.#epoch = node.nodeInfo().epoch;
    this.#unsubscribe = node.onChange((change) => this.#onChange(change));
  }

  close(): void {
    this.#unsubscribe();
  }

  /**
   * Adds a subscriber and returns what it must be sent first, in order: a
   * `snapshot`; or `resumed` followed by the deltas after `resume.seq`; or,
   * when those are not held but `known` says what the client's mirror holds,
   * `resumed` with the bridging `changes` at the stream's current seq. Later
   * deltas go to `subscriber.send`. Synchronous, so no delta falls between.
   * `known` has passed `checkKnown`.
   */
  subscribe(session: string, subscriber: HubSubscriber, resume: StreamPosition | undefined, known?: readonly KnownElement[]): string[] {
    this.flush(session);
    const stream = this.#streams.get(session);
    const replay = resume === undefined || stream === undefined ? undefined : this.#replay(stream, resume);
    const target = stream ?? this.#open(session);
    this.#touch(session, target);
    target.subscribers.add(subscriber);
    if (replay !== undefined && typeof replay !== 'string') {
      const resumed: ServerMessage = { type: 'resumed', session, stream: target.id, seq: resume!.seq };
      return [JSON.stringify(resumed), ...replay];
    }
    if (resume === undefined) return [this.#snapshotText(session, target, null)];
    const reason = replay ?? `stream ${JSON.stringify(resume.stream)} is not held by this server`;
    if (known === undefined) return [this.#snapshotText(session, target, reason)];
    // The stream's seq is the state sessionElements reads: everything gathered was flushed above.
    const bridge = bridgeChanges(known, this.node.sessionElements(session), (key) => this.node.currentTs(key));
    if (!bridge.ok) return [this.#snapshotText(session, target, `${reason}; no exact bridge from the known elements: ${bridge.problem}`)];
    const resumed: ServerMessage = { type: 'resumed', session, stream: target.id, seq: target.seq, changes: bridge.changes, reason };
    return [JSON.stringify(resumed)];
  }

  unsubscribe(session: string, subscriber: HubSubscriber): void {
    this.#streams.get(session)?.subscribers.delete(subscriber);
  }

  /** The session's state at its current seq (flushing what is gathered first). */
  snapshot(session: string): { stream: string; seq: number; elements: ElementState[] } {
    this.flush(session);
    const stream = this.#streams.get(session) ?? this.#open(session);
    this.#touch(session, stream);
    return { stream: stream.id, seq: stream.seq, elements: this.node.sessionElements(session) };
  }

  /** Sends the session's gathered changes now (before a command's result, so the client sees the change first). */
  flush(session: string): void {
    const stream = this.#streams.get(session);
    if (stream !== undefined && stream.pending.length > 0) this.#emit(session, stream);
  }

  /** Sessions with a held stream, and subscriptions across them (for metrics). */
  counts(): { streams: number; subscriptions: number } {
    let subscriptions = 0;
    for (const stream of this.#streams.values()) subscriptions += stream.subscribers.size;
    return { streams: this.#streams.size, subscriptions };
  }

  /**
   * Checks the node's epoch: after a failover every stream starts afresh
   * (its seqs are not comparable with another node's), and every subscriber
   * gets a new snapshot flagged with the reason.
   */
  checkEpoch(): void {
    const epoch = this.node.nodeInfo().epoch;
    if (epoch === this.#epoch) return;
    this.#epoch = epoch;
    const reason = `the node moved to epoch ${epoch}: the stream starts again`;
    for (const [session, old] of [...this.#streams]) {
      this.flush(session);
      const fresh = this.#open(session);
      for (const subscriber of old.subscribers) {
        fresh.subscribers.add(subscriber);
        subscriber.send(this.#snapshotText(session, fresh, reason));
      }
    }
  }

  #replay(stream: Stream, resume: StreamPosition): string[] | string {
    if (resume.stream !== stream.id) return `stream ${JSON.stringify(resume.stream)} is not this session's current stream ${JSON.stringify(stream.id)}`;
    if (resume.seq > stream.seq) return `seq ${resume.seq} is ahead of the stream (at ${stream.seq})`;
    const length = stream.ring.length;
    const max = this.limits.resumeDeltasMax;
    const oldest = length === 0 ? stream.seq + 1 : stream.ring[stream.start % max]!.seq;
    if (resume.seq < oldest - 1) return `deltas after seq ${resume.seq} are no longer held (the oldest held is ${oldest})`;
    const out: string[] = [];
    for (let i = 0; i < length; i++) {
      const held = stream.ring[(stream.start + i) % max]!;
      if (held.seq > resume.seq) out.push(held.text);
    }
    return out;
  }

  #snapshotText(session: string, stream: Stream, reason: string | null): string {
    const message: ServerMessage = {
      type: 'snapshot', session, stream: stream.id, seq: stream.seq, elements: this.node.sessionElements(session), resumed: false, reason,
    };
    return JSON.stringify(message);
  }

  #open(session: string): Stream {
    const stream: Stream = { session, id: `${this.instanceId}-e${this.#epoch}-${++this.#generation}`, seq: 0, ring: [], start: 0, pending: [], subscribers: new Set() };
    this.#streams.set(session, stream);
    this.#evict();
    return stream;
  }

  /** Least recently used last: a Map keeps insertion order. */
  #touch(session: string, stream: Stream): void {
    this.#streams.delete(session);
    this.#streams.set(session, stream);
  }

  /** Drops the least recently used streams nobody follows until the limit holds. */
  #evict(): void {
    if (this.#streams.size <= this.limits.resumeSessionsMax) return;
    for (const [session, stream] of this.#streams) {
      if (this.#streams.size <= this.limits.resumeSessionsMax) return;
      if (stream.subscribers.size === 0 && stream.pending.length === 0) this.#streams.delete(session);
    }
  }

  #onChange(change: Change): void {
    if (change.session === undefined) return;
    const stream = this.#streams.get(change.session);
    if (stream === undefined) return; // nobody follows it and nobody can resume it
    stream.pending.push({ key: change.key, ts: change.ts, value: change.value });
    if (stream.pending.length >= this.limits.deltaChangesMax) {
      this.#emit(change.session, stream);
      return;
    }
    this.#dirty.add(stream);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flushAll());
    }
  }

  #flushAll(): void {
    this.#flushScheduled = false;
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    for (const stream of dirty) if (stream.pending.length > 0) this.#emit(stream.session, stream);
  }

  #emit(session: string, stream: Stream): void {
    assert(stream.pending.length > 0, 'a delta carries at least one change');
    const seq = ++stream.seq;
    const message: ServerMessage = { type: 'delta', session, seq, changes: stream.pending };
    stream.pending = [];
    const text = JSON.stringify(message);
    const max = this.limits.resumeDeltasMax;
    if (stream.ring.length < max) stream.ring.push({ seq, text });
    else {
      stream.ring[stream.start] = { seq, text };
      stream.start = (stream.start + 1) % max;
    }
    for (const subscriber of stream.subscribers) subscriber.send(text);
  }
}
