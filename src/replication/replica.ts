/** One node of the pair across failovers (DESIGN.md §4): it runs a Primary or
 *  a Secondary over one store and switches between them. Pure, like them:
 *  the adapter feeds connections, bytes and time in and drains the output.
 *
 *  - Promotion: a secondary that has been in sync (its store then holds every
 *    acknowledged update) and has heard nothing from the primary for
 *    `failoverTimeoutMs` becomes primary at epoch + 1.
 *  - Demotion: a primary without an attached secondary probes its peer every
 *    `probeIntervalMs` (a client handshake: the welcome names the peer's role
 *    and epoch). A peer that is primary at a higher epoch — or at the same
 *    epoch with a lower node id — wins: this node becomes its secondary and
 *    catches up (nothing to roll back: with minReplicas 1 it applied only what
 *    the peer holds; with 0, what it took alone is merged back, newer wins).
 *  - A primary started with a peer refuses writes until its first probe has
 *    answered or failed, so a restarted old primary never serves beside the
 *    promoted one.
 *  - Switching role closes every connection: clients reconnect and learn the
 *    new role in the handshake. */

import type { Timestamp } from '../core/clock.ts';
import type { ElementStore } from '../core/element-store.ts';
import type { WriteGateLimits } from '../core/write-gate.ts';
import type { JsonValue } from '../core/value.ts';
import type { ReplicationLimits, ReplicationTimings } from './config.ts';
import { DialerHandshake } from './handshake.ts';
import { FrameDecoder, decodeBody, encodeFrame } from './messages.ts';
import type { ConnectionId, LogEvent, NodeBase, NodeEnvironment, Outgoing } from './node-core.ts';
import { type LocalAnswer, Primary } from './primary.ts';
import { Secondary } from './secondary.ts';
import { DecodeError } from './wire.ts';

export interface ReplicaOptions {
  readonly nodeId: number;
  /** The epoch this process starts with (a restarted node learns the current one from its peer). */
  readonly epoch: number;
  readonly startRole: 'primary' | 'secondary';
  /** The other node's replication address, `host:port`, as clients should be told; undefined = no peer (a primary alone). */
  readonly peerAddress: string | undefined;
  readonly minReplicas: 0 | 1;
  readonly syncRepair: boolean;
  readonly testHooks: boolean;
  readonly limits: ReplicationLimits;
  readonly timings: ReplicationTimings;
  readonly gate: WriteGateLimits;
}

/** A role change, for the log and for the API server beside the node. */
export interface RoleChange {
  readonly role: 'primary' | 'secondary';
  readonly epoch: number;
  readonly reason: string;
}

/** The answer to a write before the first probe: the peer may be primary at a newer epoch. */
const NOT_PROBED = 'starting: asking the peer whether it is primary at a newer epoch';

/** Why a dial was asked for; `stale`: by a role this node has since left. */
type Dial = 'link' | 'probe' | 'stale';

class Probe {
  readonly decoder: FrameDecoder;
  constructor(
    readonly connectionId: ConnectionId,
    readonly handshake: DialerHandshake,
    readonly startedMs: number,
    frameBytesMax: number,
  ) {
    this.decoder = new FrameDecoder(frameBytesMax);
  }
}

export class Replica {
  readonly store: ElementStore;
  readonly options: ReplicaOptions;
  readonly #env: NodeEnvironment;
  #inner: Primary | Secondary;
  #epoch: number;
  /** Former inner nodes whose last output (closes, logs) is still to be drained. */
  readonly #retired: NodeBase[] = [];
  readonly #ownOutgoing: Outgoing[] = [];
  readonly #ownEvents: LogEvent[] = [];
  /** Dials asked for and not yet reported, oldest first (at most one per purpose). */
  readonly #dials: Dial[] = [];
  #probe: Probe | undefined = undefined;
  #nextProbeMs: number;
  /** A primary with a peer serves writes only after the first probe answered or failed. */
  #probed: boolean;
  /** This node's store holds every acknowledged update (it was in sync as secondary in this role stint). */
  #complete = false;
  readonly #roleChanges: RoleChange[] = [];

  constructor(store: ElementStore, env: NodeEnvironment, options: ReplicaOptions, nowMs: number) {
    this.store = store;
    this.#env = env;
    this.options = options;
    this.#epoch = options.epoch;
    this.#probed = options.peerAddress === undefined;
    this.#nextProbeMs = nowMs;
    this.#inner = options.startRole === 'primary' ? this.#newPrimary(nowMs) : this.#newSecondary(nowMs);
  }

  get role(): 'primary' | 'secondary' {
    return this.#inner instanceof Primary ? 'primary' : 'secondary';
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** The state machine of the current role. */
  get inner(): Primary | Secondary {
    return this.#inner;
  }

  /** True while this node takes writes: primary, and (with a peer) its first probe done. */
  get serving(): boolean {
    return this.#inner instanceof Primary && this.#probed;
  }

  /** The next role change since the last call, oldest first. */
  pollRoleChange(): RoleChange | undefined {
    return this.#roleChanges.shift();
  }

  /** A write from this process: refused `unavailable` until serving, `not_primary` on a secondary. Returns its timestamp, 0 if refused (Primary.submitLocal). */
  submitLocal(key: string, value: JsonValue | null, onAnswer: LocalAnswer, nowMs: number): Timestamp {
    const inner = this.#inner;
    if (!(inner instanceof Primary)) return (onAnswer('not_primary', 0, `this node is the secondary; the primary is ${this.options.peerAddress ?? 'unknown'}`), 0);
    if (!this.#probed) return (onAnswer('unavailable', 0, NOT_PROBED), 0);
    return inner.submitLocal(key, value, onAnswer, nowMs);
  }

  handleConnect(connectionId: ConnectionId, nowMs: number): void {
    this.#inner.handleConnect(connectionId, nowMs);
  }

  handleDialed(connectionId: ConnectionId, nowMs: number): void {
    const purpose = this.#dials.shift();
    if (purpose === 'probe' && this.#inner instanceof Primary) return this.#startProbe(connectionId, nowMs);
    if (purpose === 'link' && this.#inner instanceof Secondary) return this.#inner.handleDialed(connectionId, nowMs);
    // Asked for in a role this node no longer has.
    this.#ownOutgoing.push({ kind: 'close', connectionId, reason: 'dialled for a role this node left' });
  }

  handleDialFailed(reason: string, nowMs: number): void {
    const purpose = this.#dials.shift();
    if (purpose === 'probe') {
      if (!this.#probed) this.#log('info', 'peer unreachable: serving as primary', { peer: this.options.peerAddress, reason });
      this.#markProbed();
      this.#nextProbeMs = nowMs + this.options.timings.probeIntervalMs;
    } else if (purpose === 'link' && this.#inner instanceof Secondary) this.#inner.handleDialFailed(reason, nowMs);
  }

  handleBytes(connectionId: ConnectionId, bytes: Uint8Array, nowMs: number): void {
    if (this.#probe?.connectionId === connectionId) return this.#probeBytes(bytes, nowMs);
    this.#inner.handleBytes(connectionId, bytes, nowMs);
    this.#afterInput(nowMs);
  }

  handleDisconnect(connectionId: ConnectionId, nowMs: number): void {
    if (this.#probe?.connectionId === connectionId) {
      this.#endProbe(nowMs, undefined);
      return;
    }
    this.#inner.handleDisconnect(connectionId, nowMs);
    this.#afterInput(nowMs);
  }

  handleTimeout(nowMs: number): void {
    this.#inner.handleTimeout(nowMs);
    this.#afterInput(nowMs);
    const inner = this.#inner;
    if (inner instanceof Secondary) {
      const heardMs = inner.primaryLastHeardMs;
      const timeoutMs = this.options.timings.failoverTimeoutMs;
      // Deadlines are compared as the same sums pollTimeoutMs returns, so a timer never fires early for ever.
      if (this.#complete && timeoutMs > 0 && heardMs !== undefined && nowMs >= heardMs + timeoutMs) {
        this.#promote(nowMs, `no word from the primary for ${Math.round(nowMs - heardMs)} ms`);
      }
      return;
    }
    if (this.#probe !== undefined && nowMs >= this.#probe.startedMs + this.options.timings.linkTimeoutMs) {
      this.#ownOutgoing.push({ kind: 'close', connectionId: this.#probe.connectionId, reason: 'probe timed out' });
      this.#endProbe(nowMs, undefined);
    }
    if (this.#wantsProbe() && nowMs >= this.#nextProbeMs) {
      this.#nextProbeMs = Number.POSITIVE_INFINITY; // until this probe ends
      this.#dials.push('probe');
      this.#ownOutgoing.push({ kind: 'dial' });
    }
  }

  pollTimeoutMs(): number {
    let next = this.#inner.pollTimeoutMs();
    const inner = this.#inner;
    if (inner instanceof Secondary) {
      const heardMs = inner.primaryLastHeardMs;
      if (this.#complete && this.options.timings.failoverTimeoutMs > 0 && heardMs !== undefined) next = Math.min(next, heardMs + this.options.timings.failoverTimeoutMs);
    } else {
      if (this.#wantsProbe()) next = Math.min(next, this.#nextProbeMs);
      if (this.#probe !== undefined) next = Math.min(next, this.#probe.startedMs + this.options.timings.linkTimeoutMs);
    }
    return next;
  }

  pollTransmit(): Outgoing | undefined {
    while (this.#retired.length > 0) {
      const out = this.#retired[0]!.pollTransmit();
      if (out !== undefined) return out;
      const events = this.#retired[0]!;
      for (let event = events.pollEvent(); event !== undefined; event = events.pollEvent()) this.#ownEvents.push(event);
      this.#retired.shift();
    }
    const own = this.#ownOutgoing.shift();
    if (own !== undefined) return own;
    const out = this.#inner.pollTransmit();
    if (out?.kind === 'dial') this.#dials.push('link');
    return out;
  }

  pollEvent(): LogEvent | undefined {
    return this.#ownEvents.shift() ?? this.#inner.pollEvent();
  }

  #wantsProbe(): boolean {
    const inner = this.#inner;
    return this.options.peerAddress !== undefined && inner instanceof Primary && inner.secondaryState === 'none' && this.#probe === undefined && !this.#dials.includes('probe');
  }

  #afterInput(nowMs: number): void {
    const inner = this.#inner;
    if (inner instanceof Secondary) {
      if (inner.wasInSync) this.#complete = true;
      // Following a primary of a newer epoch makes it ours: a promotion then goes one past it.
      if (inner.epoch > this.#epoch) this.#epoch = inner.epoch;
    }
    if (inner instanceof Primary && !this.#probed && inner.secondaryState !== 'none') {
      // The peer attached as our secondary: it is not a primary, so nothing to probe for.
      this.#markProbed();
      this.#nextProbeMs = nowMs + this.options.timings.probeIntervalMs;
    }
  }

  #startProbe(connectionId: ConnectionId, nowMs: number): void {
    const handshake = new DialerHandshake({ role: 'client', nodeId: this.options.nodeId, epoch: this.#epoch }, this.#env.authenticator, this.#env.randomBytes(32));
    this.#probe = new Probe(connectionId, handshake, nowMs, this.options.limits.frameBytesMax);
    this.#ownOutgoing.push({ kind: 'send', connectionId, bytes: encodeFrame(handshake.start()) });
  }

  #probeBytes(bytes: Uint8Array, nowMs: number): void {
    const probe = this.#probe!;
    const close = (reason: string): void => {
      this.#ownOutgoing.push({ kind: 'close', connectionId: probe.connectionId, reason });
      this.#endProbe(nowMs, undefined);
    };
    const bodies = probe.decoder.push(bytes);
    if (bodies instanceof DecodeError) return close(`bad frame from the peer: ${bodies.message}`);
    for (const body of bodies) {
      let outcome;
      try {
        outcome = probe.handshake.handle(decodeBody(body));
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        return close(`malformed message from the peer: ${error.message}`);
      }
      for (const reply of outcome.send) this.#ownOutgoing.push({ kind: 'send', connectionId: probe.connectionId, bytes: encodeFrame(reply) });
      if (outcome.kind === 'refused') {
        this.#log('warn', 'peer refused the probe', { peer: this.options.peerAddress, reason: outcome.reason });
        return close(outcome.reason);
      }
      if (outcome.kind === 'open') {
        this.#ownOutgoing.push({ kind: 'close', connectionId: probe.connectionId, reason: 'probe done' });
        this.#endProbe(nowMs, outcome.peer);
        return;
      }
    }
  }

  #endProbe(nowMs: number, peer: { role: string; nodeId: number; epoch: number } | undefined): void {
    this.#probe = undefined;
    this.#markProbed();
    this.#nextProbeMs = nowMs + this.options.timings.probeIntervalMs;
    if (peer === undefined || peer.role !== 'primary' || !(this.#inner instanceof Primary)) return;
    const peerWins = peer.epoch > this.#epoch || (peer.epoch === this.#epoch && peer.nodeId < this.options.nodeId);
    if (peerWins) this.#demote(nowMs, peer.epoch, `the peer is primary at epoch ${peer.epoch} (node ${peer.nodeId}); this node was at epoch ${this.#epoch}`);
  }

  #promote(nowMs: number, reason: string): void {
    // It was in sync a moment ago: no probe needed before serving.
    this.#probed = true;
    this.#switch(this.#epoch + 1, 'primary', nowMs, reason);
    this.#nextProbeMs = nowMs + this.options.timings.probeIntervalMs;
  }

  #demote(nowMs: number, epoch: number, reason: string): void {
    this.#switch(epoch, 'secondary', nowMs, reason);
    this.#complete = false;
  }

  #switch(epoch: number, role: 'primary' | 'secondary', nowMs: number, reason: string): void {
    const old = this.#inner;
    if (old instanceof Primary) old.shutdown(`this node is no longer primary: ${reason}`);
    else old.closeAll(`this node is changing role: ${reason}`);
    this.#retired.push(old);
    if (this.#probe !== undefined) this.#ownOutgoing.push({ kind: 'close', connectionId: this.#probe.connectionId, reason: 'changing role' });
    // Dials still out belong to the old role; handleDialed closes them when they report.
    this.#dials.fill('stale');
    this.#probe = undefined;
    this.#epoch = epoch;
    this.#inner = role === 'primary' ? this.#newPrimary(nowMs) : this.#newSecondary(nowMs);
    this.#roleChanges.push({ role, epoch, reason });
    // Kept for whoever polls (the simulator); a process that never does holds only the last few.
    if (this.#roleChanges.length > 16) this.#roleChanges.shift();
    this.#log(role === 'primary' ? 'warn' : 'info', role === 'primary' ? 'promoted to primary' : 'demoted to secondary', { epoch, reason });
  }

  /** The first probe answered or failed (or the peer attached as our secondary): writes may be served. */
  #markProbed(): void {
    this.#probed = true;
    if (this.#inner instanceof Primary) this.#inner.holdWrites(undefined);
  }

  #newPrimary(nowMs: number): Primary {
    const o = this.options;
    const primary = new Primary(this.store, this.#env, { nodeId: o.nodeId, epoch: this.#epoch, minReplicas: o.minReplicas, syncRepair: o.syncRepair, limits: o.limits, timings: o.timings, gate: o.gate }, nowMs);
    // Client writes wait for the probe as local ones do (submitLocal).
    if (!this.#probed) primary.holdWrites(NOT_PROBED);
    return primary;
  }

  #newSecondary(nowMs: number): Secondary {
    const o = this.options;
    return new Secondary(this.store, this.#env, { nodeId: o.nodeId, epoch: this.#epoch, primaryAddress: o.peerAddress ?? 'unknown', limits: o.limits, timings: o.timings, testHooks: o.testHooks }, nowMs);
  }

  #log(level: LogEvent['level'], message: string, fields: Record<string, unknown>): void {
    this.#ownEvents.push({ level, message, fields });
  }
}
