/** Reads a pasted JWT's claims (not its signature: the server checks that)
 *  into what the page needs: participant, session, role, expiry. Pure: no
 *  DOM, tested in Node (test/web/page-logic.test.ts). */

import { ID_PATTERN, ROLES, type Role } from '../../src/conference/model.ts';

/** A token that cannot be used, with a sentence for the user. */
export class GrantError extends Error {
  override name = 'GrantError';
}

export interface TokenClaims {
  readonly participant: string;
  readonly session: string;
  readonly role: Role;
  /** Infinity when the token has no `exp` (the server will refuse it; the page lets it say so). */
  readonly expiresAtMs: number;
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** The claims of `token`; throws a GrantError saying what is wrong with it. */
export function readToken(token: string, nowMs: number): TokenClaims {
  const parts = token.trim().split('.');
  if (parts.length !== 3) throw new GrantError('That is not a token: a token has three parts separated by dots.');
  let claims: Record<string, unknown>;
  try {
    const base64 = parts[1]!.replace(/-/g, '+').replace(/_/g, '/');
    claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)))) as Record<string, unknown>;
  } catch {
    throw new GrantError('The token cannot be read: its middle part is not base64url JSON.');
  }
  const { sub, session, role, exp } = claims;
  if (session === '*') throw new GrantError('This is a service token: it acts on sessions but cannot join one as a person.');
  if (typeof sub !== 'string' || typeof session !== 'string' || !ID_PATTERN.test(session) || !isRole(role)) {
    throw new GrantError('The token lacks a participant (sub), a session or a role.');
  }
  const expiresAtMs = typeof exp === 'number' ? exp * 1000 : Number.POSITIVE_INFINITY;
  if (expiresAtMs <= nowMs) throw new GrantError('The token has expired: ask for a new one.');
  return { participant: sub, session, role, expiresAtMs };
}
