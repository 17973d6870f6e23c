/** DEMO ONLY: issues a token to anyone who names a session and themselves.
 *  The first joiner of a session that does not exist yet is its host, later
 *  ones participants. Present only when buildServer is given `demo` (the
 *  `confstate demo` / `npm start` composition root); production never is.
 *  It does not verify anything: it is the opposite of authentication. */

import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Role } from '../conference/model.ts';

/** Options of demo mode; its presence turns the issuer on. */
export interface DemoOptions {
  /** Token lifetime; default limits.demoTokenTtlMs. */
  readonly tokenTtlMs?: number;
}

export const DEMO_NOTICE = 'DEMO MODE: this token was issued without any authentication to whoever asked. Never run demo mode in production.';

export interface DemoGrant {
  readonly token: string;
  readonly participant: string;
  readonly session: string;
  readonly role: Role;
  readonly expiresAtMs: number;
  readonly demo: true;
  readonly notice: string;
}

export class DemoIssuer {
  readonly #key: Uint8Array;
  /** Sessions a grant made someone host of, oldest first: later joiners of the same new session are participants. */
  readonly #hosted = new Set<string>();

  constructor(
    hs256Secret: string,
    readonly tokenTtlMs: number,
    readonly sessionsMax: number,
    readonly clock: { nowMs(): number },
    /** The `iss` / `aud` the verifier requires, if configured. */
    readonly claims: { readonly issuer: string | undefined; readonly audience: string | undefined },
  ) {
    this.#key = new TextEncoder().encode(hs256Secret);
  }

  /** Issues a grant. `sessionExists`: the session was created already (its joiners are participants). */
  async join(session: string, sessionExists: boolean): Promise<DemoGrant> {
    const host = !sessionExists && !this.#hosted.has(session);
    if (host) {
      this.#hosted.add(session);
      if (this.#hosted.size > this.sessionsMax) this.#hosted.delete(this.#hosted.values().next().value!);
    }
    const role: Role = host ? 'host' : 'participant';
    const participant = `p-${randomBytes(9).toString('base64url')}`;
    const nowMs = this.clock.nowMs();
    const expiresAtMs = nowMs + this.tokenTtlMs;
    const jwt = new SignJWT({ session, role, demo: true }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' });
    if (this.claims.issuer !== undefined) jwt.setIssuer(this.claims.issuer);
    if (this.claims.audience !== undefined) jwt.setAudience(this.claims.audience);
    const token = await jwt
      .setSubject(participant)
      .setIssuedAt(Math.floor(nowMs / 1000))
      .setExpirationTime(Math.floor(expiresAtMs / 1000))
      .sign(this.#key);
    return { token, participant, session, role, expiresAtMs: Math.floor(expiresAtMs / 1000) * 1000, demo: true, notice: DEMO_NOTICE };
  }
}
