/** The SDK's one error type and the codes it carries: the server's definite
 *  answers (forbidden, invalid_command, …) and the few the SDK decides itself
 *  (timeout, queue_full, closed). Knows nothing of sockets or sessions. */

import type { CommandErrorCode } from '../conference/model.ts';

/**
 * Codes the SDK produces without a server answer:
 * - `timeout`: no definite answer within `commandTimeoutMs`; the command may or may not have been applied.
 * - `queue_full`: `pendingCommandsMax` commands are already waiting; this one was never sent.
 * - `closed`: the client was closed before an answer; a command may or may not have been applied.
 * - `subscriptions_full`: `subscriptionsMax` sessions are already subscribed.
 * - `invalid_id`: a session id that the server would refuse (model.ts `ID_PATTERN`).
 * - `not_connected`: a ping while no connection is up (commands wait instead; signals return false).
 */
export type LocalErrorCode = 'timeout' | 'queue_full' | 'closed' | 'subscriptions_full' | 'invalid_id' | 'not_connected';

/** Codes of connection problems, seen in `ConnectionStatus.lastError`. */
export type ConnectionErrorCode =
  | 'connect_failed'
  | 'connect_timeout'
  | 'connection_closed'
  | 'ping_timeout'
  | 'protocol_error'
  | 'token_failed'
  | 'unauthenticated'
  | 'token_expired'
  | 'unsupported_protocol'
  | 'wrong_session';

/** Every code a `ConferenceError` may carry; other server codes pass through as strings. */
// `string & {}` keeps editor completion for the known codes while admitting codes a newer server adds.
export type ErrorCode = CommandErrorCode | LocalErrorCode | ConnectionErrorCode | (string & {});

/**
 * A command, subscription or connection that ended without success: `code`
 * says why (stable, for programs), `message` names the values involved (for
 * people).
 *
 * @example
 * ```ts
 * const error = new ConferenceError('forbidden', 'a viewer may not publish audio');
 * assert.equal(error.code, 'forbidden');
 * assert.ok(error instanceof Error);
 * assert.equal(isConferenceError(error, 'forbidden'), true);
 * ```
 */
export class ConferenceError extends Error {
  override name = 'ConferenceError';

  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * True when `error` is a ConferenceError, and when `code` is given, one with that code.
 *
 * @example
 * ```ts
 * assert.equal(isConferenceError(new ConferenceError('timeout', 'no answer in 10000 ms'), 'timeout'), true);
 * assert.equal(isConferenceError(new Error('boom')), false);
 * ```
 */
export function isConferenceError(error: unknown, code?: ErrorCode): error is ConferenceError {
  return error instanceof ConferenceError && (code === undefined || error.code === code);
}
