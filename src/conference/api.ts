/** The public API's messages: what browsers, apps and media engines exchange
 *  with a confstate server over WebSocket `/v1/ws` (JSON text frames), and
 *  the shapes REST returns. Types only, shared by src/server and src/client;
 *  the server validates every incoming message against its schema. */

import type { Command, ElementState, Role } from './model.ts';

export const API_PROTOCOL_VERSION = 1;

/** Where a subscriber is in a session's stream: resume from here after a disconnect. */
export interface StreamPosition {
  /** Identifies the node instance (and epoch) that numbered the deltas; seqs from another stream do not apply. */
  readonly stream: string;
  /** Last delta seq the client applied (the snapshot's seq if none since). */
  readonly seq: number;
}

/**
 * One element a resuming client's mirror holds: its full key (`s/{session}/…`)
 * and the element's replicated timestamp. Deleted elements are not listed: a
 * key the client lacks and one it holds deleted need the same bridge.
 */
export type KnownElement = readonly [key: string, ts: number];

// ---- client → server ------------------------------------------------------

export type ClientMessage =
  /** Must be the first message; nothing else is accepted before `welcome`. */
  | { readonly type: 'hello'; readonly token: string; readonly protocol: number }
  /**
   * `known` (only with `resume`): every live element the client's mirror
   * holds, so a server that cannot replay the stream can still bridge the
   * mirror exactly (a `resumed` carrying `changes`) instead of a snapshot.
   */
  | { readonly type: 'subscribe'; readonly session: string; readonly resume?: StreamPosition; readonly known?: readonly KnownElement[] }
  | { readonly type: 'unsubscribe'; readonly session: string }
  /** `id`: chosen by the client, unique per client; a retry with the same id is applied once. */
  | { readonly type: 'command'; readonly id: string; readonly session: string; readonly command: Command }
  /** WebRTC offer / answer / ICE for one other member of the same session; `payload` is opaque (≤ 64 KiB as JSON). */
  | { readonly type: 'signal'; readonly session: string; readonly to: string; readonly payload: unknown }
  | { readonly type: 'ping'; readonly id: string };

// ---- server → client ------------------------------------------------------

export interface NodeInfo {
  readonly nodeId: number;
  readonly role: 'primary' | 'secondary';
  readonly epoch: number;
  /** The primary's public URL when this node is not it, if known. */
  readonly primaryUrl: string | null;
}

/**
 * Limits of the server a client must stay within to be understood, told in
 * `welcome`: a WebSocket message longer than `messageBytesMax` closes the
 * connection (close code 1009) instead of getting an error, so a client sizes
 * its `subscribe … known` list by these.
 */
export interface WelcomeLimits {
  /** The longest message (bytes of JSON text) the server reads. */
  readonly messageBytesMax: number;
  /** The most `[key, ts]` entries a subscribe's `known` may carry. */
  readonly resumeKnownMax: number;
}

export type ServerMessage =
  | {
      readonly type: 'welcome';
      readonly participant: string;
      readonly session: string;
      readonly role: Role;
      readonly service: boolean;
      readonly node: NodeInfo;
      /** Absent from servers before this field existed: a client then keeps its own defaults. */
      readonly limits?: WelcomeLimits;
    }
  /**
   * The whole state of a session at `seq`. `resumed: false` with a `reason`
   * when the client asked to resume but the deltas it missed are no longer
   * held (or came from another stream) and no exact bridge was possible: the
   * client must replace its mirror — or reconcile it, as the SDK does: per
   * key the newer timestamp wins, and a key the snapshot lacks is deleted.
   */
  | {
      readonly type: 'snapshot';
      readonly session: string;
      readonly stream: string;
      readonly seq: number;
      readonly elements: readonly ElementState[];
      readonly resumed: false;
      readonly reason: string | null;
    }
  /**
   * Sent instead of a snapshot when a resume succeeded: the deltas after `seq`
   * follow. Without `changes`, `stream` and `seq` are the position the client
   * asked for and the missed deltas follow. With `changes` (a bridge: the
   * client sent `known`, and the stream could not be replayed, `reason` says
   * why), `stream` and `seq` are the node's current position, possibly on
   * another stream, and `changes` turn the mirror `known` described into the
   * session at that seq: newer and missing elements, and deletions (`value`
   * null, with the node's deletion timestamp) of keys it no longer holds —
   * each key at most once.
   */
  | {
      readonly type: 'resumed';
      readonly session: string;
      readonly stream: string;
      readonly seq: number;
      readonly changes?: readonly ElementState[];
      readonly reason?: string;
    }
  /** Element changes, numbered per session without gaps: seq = previous seq + 1. */
  | { readonly type: 'delta'; readonly session: string; readonly seq: number; readonly changes: readonly ElementState[] }
  | { readonly type: 'unsubscribed'; readonly session: string; readonly reason: string }
  | { readonly type: 'result'; readonly id: string; readonly ok: true; readonly duplicate: boolean }
  | { readonly type: 'result'; readonly id: string; readonly ok: false; readonly code: string; readonly message: string; readonly primaryUrl?: string | null }
  | { readonly type: 'signal'; readonly session: string; readonly from: string; readonly payload: unknown }
  | { readonly type: 'pong'; readonly id: string }
  /**
   * The node's role, epoch or known primary changed since `welcome` (or the
   * last `node`): a secondary was promoted, the primary was fenced, the
   * primary's URL became known. Sent to every welcomed connection within
   * `epochCheckIntervalMs` of the change; the same fields as `welcome.node`.
   */
  | { readonly type: 'node'; readonly node: NodeInfo }
  /** A problem not tied to one command (bad message, rate limit, auth); `fatal` closes the socket after it. */
  | { readonly type: 'error'; readonly code: string; readonly message: string; readonly fatal: boolean };

// ---- REST -----------------------------------------------------------------

/** Every REST error body. */
export interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly primaryUrl?: string | null };
}
