/** The payload one page relays to another through confstate's `signal`
 *  (offers, answers, ICE candidates), and the check of what arrives: the
 *  server relays any JSON a member sends, so the page trusts none of it.
 *  Pure: no DOM, tested in Node (test/web/page-logic.test.ts). */

export type SdpType = 'offer' | 'answer' | 'pranswer' | 'rollback';

/** An ICE candidate as RTCIceCandidate.toJSON() gives it. */
export interface IceCandidate {
  readonly candidate?: string;
  readonly sdpMid?: string | null;
  readonly sdpMLineIndex?: number | null;
  readonly usernameFragment?: string | null;
}

export interface PeerSignal {
  readonly v: 1;
  /** The sending connection's instance id. */
  readonly from: string;
  /** The receiving connection's instance id, once the sender knows it. */
  readonly to: string | null;
  readonly description?: { readonly type: SdpType; readonly sdp: string };
  readonly candidate?: IceCandidate;
  /** With a description: the id of the sender's screen-share stream, or null when it shares none. */
  readonly screen?: string | null;
}

const SDP_TYPES: readonly string[] = ['offer', 'answer', 'pranswer', 'rollback'];
/** Instance ids are 16 hex digits (peer.ts); anything longer is not ours. */
const INSTANCE_PATTERN = /^[0-9a-f]{1,32}$/;

/** The signal in a relayed payload, or undefined when it is not one of ours. */
export function parsePeerSignal(payload: unknown): PeerSignal | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const p = payload as Record<string, unknown>;
  const { from, to, description, candidate, screen } = p;
  if (p['v'] !== 1 || typeof from !== 'string' || !INSTANCE_PATTERN.test(from)) return undefined;
  if (to !== null && (typeof to !== 'string' || !INSTANCE_PATTERN.test(to))) return undefined;
  if (description !== undefined && !isDescription(description)) return undefined;
  if (candidate !== undefined && (typeof candidate !== 'object' || candidate === null || Array.isArray(candidate))) return undefined;
  if ((description === undefined) === (candidate === undefined)) return undefined; // exactly one of them
  if (screen !== undefined && screen !== null && typeof screen !== 'string') return undefined;
  return payload as PeerSignal;
}

function isDescription(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Record<string, unknown>;
  return SDP_TYPES.includes(String(d['type'])) && typeof d['sdp'] === 'string';
}
