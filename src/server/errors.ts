/** The one table of error codes the server answers with: for each, the HTTP
 *  status, how the WebSocket gateway handles it, and whether a client may
 *  retry. Every refusal anywhere in src/server uses a code from here. It does
 *  not know where an error came from or how it is sent. */

import type { CommandErrorCode } from '../conference/model.ts';
import type { WriteOutcome } from './state-node.ts';

/** A write outcome other than `applied`. */
export type WriteErrorCode = Exclude<WriteOutcome['code'], 'applied'>;

/**
 * How a WebSocket connection treats an error:
 * - `reply`: answered (a `result` for a command, else an `error` with fatal false); the connection stays.
 * - `close`: an `error` with fatal true, then the socket closes with `closeCode`.
 * - `upgrade_refused`: the WebSocket upgrade itself is answered with the HTTP status.
 */
export type WsHandling = { readonly kind: 'reply' } | { readonly kind: 'close'; readonly closeCode: number } | { readonly kind: 'upgrade_refused' };

export interface ErrorSpec {
  readonly httpStatus: number;
  readonly ws: WsHandling;
  /** The same request may succeed later unchanged (after a wait, or at the primary). */
  readonly retryable: boolean;
  readonly description: string;
}

const reply: WsHandling = { kind: 'reply' };
const close = (closeCode: number): WsHandling => ({ kind: 'close', closeCode });

/** Custom WebSocket close codes live in 4000–4999 (RFC 6455 §7.4.2); ours mirror the HTTP status. */
export const ERRORS = {
  // ---- the domain refused the command (conference/model.ts CommandErrorCode)
  invalid_command: { httpStatus: 400, ws: reply, retryable: false, description: 'the command is not valid for this session (a rule of the domain, e.g. an unknown participant)' },
  forbidden: { httpStatus: 403, ws: reply, retryable: false, description: "the actor's role does not allow this command" },
  not_found: { httpStatus: 404, ws: reply, retryable: false, description: 'the session (or participant) does not exist' },
  already_exists: { httpStatus: 409, ws: reply, retryable: false, description: 'a session with this id exists already' },
  session_ended: { httpStatus: 410, ws: reply, retryable: false, description: 'the session has ended' },
  session_locked: { httpStatus: 423, ws: reply, retryable: false, description: 'the session is locked: nobody new may join' },
  session_full: { httpStatus: 409, ws: reply, retryable: false, description: "the session has its settings' maxParticipants present" },
  not_member: { httpStatus: 403, ws: reply, retryable: false, description: 'the actor is not a present member of the session' },

  // ---- the write path answered something other than applied (server/state-node.ts WriteOutcome)
  stale: { httpStatus: 409, ws: reply, retryable: true, description: 'an element held a newer timestamp than the update; send the command again' },
  queue_full: { httpStatus: 503, ws: reply, retryable: true, description: "a write queue is at its limit; retry after a short wait" },
  unavailable: { httpStatus: 503, ws: reply, retryable: true, description: 'the write could not be replicated (no secondary attached with minReplicas 1, or shutting down), or a read on a node still catching up' },
  rejected: { httpStatus: 422, ws: reply, retryable: false, description: 'the store refused an update (value too large or not plain JSON)' },
  not_primary: { httpStatus: 421, ws: reply, retryable: true, description: 'this node is a secondary: send writes to primaryUrl' },

  // ---- authentication and authorisation
  unauthenticated: { httpStatus: 401, ws: close(4401), retryable: false, description: 'no token, or one that is malformed, forged, or signed with an algorithm or key not configured' },
  token_expired: { httpStatus: 401, ws: close(4401), retryable: false, description: 'the token has expired: get a new one and reconnect' },
  wrong_session: { httpStatus: 403, ws: reply, retryable: false, description: 'the token is for another session' },
  admin_required: { httpStatus: 403, ws: reply, retryable: false, description: 'the route needs the admin credential' },

  // ---- input
  invalid_json: { httpStatus: 400, ws: reply, retryable: false, description: 'the body or message is not JSON text' },
  invalid_request: { httpStatus: 400, ws: reply, retryable: false, description: 'the input does not match its schema; the message names the field' },
  too_large: { httpStatus: 413, ws: reply, retryable: false, description: 'the body, message or signalling payload exceeds its size limit' },
  unsupported_media_type: { httpStatus: 415, ws: reply, retryable: false, description: 'the body is not application/json' },
  idempotency_conflict: { httpStatus: 409, ws: reply, retryable: false, description: 'a command with this id was sent before with a different body' },

  // ---- limits
  rate_limited: { httpStatus: 429, ws: reply, retryable: true, description: "the connection's message rate exceeded its token bucket" },
  too_many_sessions: { httpStatus: 503, ws: reply, retryable: false, description: 'this node holds its limit of sessions' },
  too_many_connections: { httpStatus: 503, ws: { kind: 'upgrade_refused' }, retryable: true, description: 'the server holds its limit of WebSocket connections' },
  too_many_subscriptions: { httpStatus: 400, ws: reply, retryable: false, description: 'the connection follows its limit of sessions' },
  too_many_errors: { httpStatus: 400, ws: close(4400), retryable: false, description: 'the connection sent too many invalid messages and is closed' },
  slow_consumer: { httpStatus: 503, ws: close(4508), retryable: true, description: "the client reads too slowly: its unsent output passed the server's limit" },

  // ---- WebSocket protocol
  hello_required: { httpStatus: 400, ws: close(4400), retryable: false, description: 'the first message must be hello' },
  hello_timeout: { httpStatus: 408, ws: close(4408), retryable: true, description: 'no hello within the deadline' },
  unsupported_protocol: { httpStatus: 400, ws: close(4400), retryable: false, description: "hello named a protocol version the server does not speak" },
  not_subscribed: { httpStatus: 400, ws: reply, retryable: false, description: 'the connection does not follow that session' },
  not_delivered: { httpStatus: 409, ws: reply, retryable: true, description: 'the signal target is a present member but has no connection following the session' },

  // ---- the server itself
  route_not_found: { httpStatus: 404, ws: reply, retryable: false, description: 'no such route' },
  shutting_down: { httpStatus: 503, ws: close(1001), retryable: true, description: 'the server is closing; reconnect (to the other node)' },
  internal: { httpStatus: 500, ws: reply, retryable: true, description: 'a bug: the server logged it' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

// Every domain and write code must have a row: a compile error here means the table is missing one.
const _domainCodesCovered: Record<CommandErrorCode | WriteErrorCode, ErrorSpec> = ERRORS;
void _domainCodesCovered;

/** An expected refusal: a code from the table and a message naming the values involved. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
  readonly primaryUrl?: string | null;
}

export function refusal(code: ErrorCode, message: string, primaryUrl?: string | null): Refusal {
  return primaryUrl === undefined ? { code, message } : { code, message, primaryUrl };
}

/** The HTTP status of a code. */
export function httpStatusOf(code: ErrorCode): number {
  return ERRORS[code].httpStatus;
}

/** True for codes of the table (input from elsewhere, e.g. a write outcome, is checked before use). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

/** The REST body of a refusal. */
export function errorBody(error: Refusal): { error: { code: string; message: string; primaryUrl?: string | null } } {
  return { error: error.primaryUrl === undefined ? { code: error.code, message: error.message } : { code: error.code, message: error.message, primaryUrl: error.primaryUrl } };
}

/**
 * The error table as markdown (code, HTTP status, WebSocket handling, retry,
 * meaning). Deterministic; a test compares it with docs/API.md.
 */
export function errorTableMarkdown(): string {
  const lines = ['| code | HTTP | WebSocket | retry | meaning |', '| --- | --- | --- | --- | --- |'];
  for (const [code, spec] of Object.entries(ERRORS) as [ErrorCode, ErrorSpec][]) {
    const ws = spec.ws.kind === 'reply' ? 'answered, connection stays' : spec.ws.kind === 'close' ? `fatal, close ${spec.ws.closeCode}` : `upgrade refused with HTTP ${spec.httpStatus}`;
    lines.push(`| \`${code}\` | ${spec.httpStatus} | ${ws} | ${spec.retryable ? 'yes' : 'no'} | ${spec.description} |`);
  }
  return `${lines.join('\n')}\n`;
}
