/** How the page gets a token: from the DEMO issuer by name (POST /v1/demo/join)
 *  or pasted by the user, and remembered per browser tab (sessionStorage) so a
 *  reload rejoins as the same participant, host included. */

import type { Role } from '../../src/conference/model.ts';
import { GrantError, isRole, readToken } from './token.ts';

export { GrantError };

/** A token with what the page needs to know about it. */
export interface Grant {
  readonly token: string;
  readonly participant: string;
  readonly session: string;
  /** The role the token grants on joining (the session's stored role wins later). */
  readonly role: Role;
  readonly name: string;
  readonly expiresAtMs: number;
  readonly demo: boolean;
}

const STORAGE_PREFIX = 'confstate.grant.';
/** A remembered grant this close to expiry is not offered (the connection would be refused soon after). */
const EXPIRY_MARGIN_MS = 60_000;

/** Asks the DEMO issuer of each server in turn (the first may be down) for a token. */
export async function demoGrant(servers: readonly string[], session: string, name: string): Promise<Grant> {
  let last = 'no server answered';
  for (const server of servers) {
    let response: Response;
    try {
      response = await fetch(`${server}/v1/demo/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ session, name }) });
    } catch (error) {
      last = `${server} did not answer (${error instanceof Error ? error.message : String(error)})`;
      continue;
    }
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok) {
      const message = (body['error'] as { message?: string } | undefined)?.message ?? `HTTP ${response.status}`;
      throw new GrantError(`The server refused to let you join: ${message}`);
    }
    const role = body['role'];
    if (typeof body['token'] !== 'string' || typeof body['participant'] !== 'string' || !isRole(role)) throw new GrantError('The server answered without a token.');
    return { token: body['token'], participant: body['participant'], session, role, name, expiresAtMs: Number(body['expiresAtMs']) || Date.now() + 3_600_000, demo: true };
  }
  throw new GrantError(`Could not reach the meeting server: ${last}.`);
}

/** A grant for a pasted token, named `name` in the meeting. */
export function tokenGrant(token: string, name: string): Grant {
  const claims = readToken(token, Date.now());
  return { token: token.trim(), participant: claims.participant, session: claims.session, role: claims.role, name, expiresAtMs: claims.expiresAtMs, demo: false };
}

/** The grant this tab used for `session`, unless it expires within a minute. */
export function savedGrant(session: string, nowMs: number): Grant | undefined {
  try {
    const text = sessionStorage.getItem(STORAGE_PREFIX + session);
    const grant = text === null ? undefined : (JSON.parse(text) as Grant);
    return grant !== undefined && grant.session === session && grant.expiresAtMs - EXPIRY_MARGIN_MS > nowMs ? grant : undefined;
  } catch {
    return undefined;
  }
}

export function saveGrant(grant: Grant): void {
  try {
    sessionStorage.setItem(STORAGE_PREFIX + grant.session, JSON.stringify(grant));
  } catch {
    // Storage may be off (private mode): a reload then joins as someone new.
  }
}

export function forgetGrant(session: string): void {
  try {
    sessionStorage.removeItem(STORAGE_PREFIX + session);
  } catch {
    // As above.
  }
}

/** A meeting id that is easy to read aloud: three groups of lowercase letters, e.g. `kqw-mbrt-zfd`. */
export function newMeetingId(): string {
  const letters = 'abcdefghijkmnopqrstuvwxyz'; // no l: it reads as 1 or I
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  const pick = (from: number, count: number): string => [...bytes.slice(from, from + count)].map((b) => letters[b % letters.length]).join('');
  return `${pick(0, 3)}-${pick(3, 4)}-${pick(7, 3)}`;
}

