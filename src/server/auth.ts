/** Who is calling: bearer JWTs verified with jose against the keys and the
 *  algorithms the configuration names (nothing else, never `none`), the admin
 *  credential compared in constant time, and the domain Actor a token acts as.
 *  It does not know routes, sockets or what a role may do (the domain decides). */

import { createHash, createPublicKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, type CryptoKey, errors, type JSONWebKeySet, type JWTHeaderParameters, jwtVerify, type JWTVerifyOptions } from 'jose';
import { type Actor, ID_PATTERN, type Role, ROLES } from '../conference/model.ts';
import { type AuthConfig, allowedAlgorithms, type TokenAlgorithm } from './config.ts';
import { type Refusal, refusal } from './errors.ts';

/** Token `session` claim that makes a service token: valid in every session, a member of none. */
export const SERVICE_SESSION = '*';
/** Longest token accepted, in characters: a JWT with our claims is ~300; a JWKS-signed RS256 one under 1 KiB. */
export const TOKEN_LENGTH_MAX = 8192;

/** The verified claims of a token. */
export interface Principal {
  /** The `sub` claim: a participant id (or the service's id). */
  readonly participant: string;
  /** A session id, or SERVICE_SESSION. */
  readonly session: string;
  readonly role: Role;
  readonly service: boolean;
  /** The `exp` claim in Unix ms. */
  readonly expiresAtMs: number;
}

export type TokenCheck = { readonly ok: true; readonly principal: Principal } | { readonly ok: false; readonly error: Refusal };

/** The actor a principal's commands run as. */
export function actorOf(principal: Principal): Actor {
  return { kind: principal.service ? 'service' : 'participant', id: principal.participant, tokenRole: principal.role };
}

/** The admin credential acts as a service with host authority, under this id. */
export const ADMIN_ACTOR: Actor = { kind: 'service', id: 'admin', tokenRole: 'host' };
/** The server's own presence commands. */
export const SYSTEM_ACTOR: Actor = { kind: 'system', id: 'server', tokenRole: 'host' };

/**
 * Refuses a principal acting in `session` unless its token is for that
 * session or is a service token: a token for one session gives nothing in another.
 */
export function checkSessionAccess(principal: Principal, session: string): Refusal | undefined {
  if (principal.service || principal.session === session) return undefined;
  return refusal('wrong_session', `the token is for session ${JSON.stringify(principal.session)}, not ${JSON.stringify(session)}`);
}

type KeyLookup = (header: JWTHeaderParameters) => Promise<KeyObject | Uint8Array | CryptoKey>;

/** Verifies bearer tokens. Built once per server from the auth config. */
export class TokenVerifier {
  readonly #options: JWTVerifyOptions;
  readonly #lookup: KeyLookup;

  constructor(auth: AuthConfig) {
    const algorithms: TokenAlgorithm[] = allowedAlgorithms(auth);
    this.#options = {
      algorithms,
      clockTolerance: auth.clockToleranceS,
      requiredClaims: ['exp', 'sub'],
      ...(auth.issuer !== undefined ? { issuer: auth.issuer } : {}),
      ...(auth.audience !== undefined ? { audience: auth.audience } : {}),
    };
    this.#lookup = keyLookup(auth);
  }

  /** Checks signature, algorithm, expiry and our claims. Never throws for a bad token. */
  async verify(token: string): Promise<TokenCheck> {
    if (token.length === 0 || token.length > TOKEN_LENGTH_MAX) {
      return { ok: false, error: refusal('unauthenticated', `a token must be 1..${TOKEN_LENGTH_MAX} characters, got ${token.length}`) };
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, (header) => this.#lookup(header), this.#options));
    } catch (error) {
      return { ok: false, error: describeJoseError(error) };
    }
    return claimsOf(payload);
  }
}

function keyLookup(auth: AuthConfig): KeyLookup {
  const hmacKey = auth.hs256Secret === undefined ? undefined : new TextEncoder().encode(auth.hs256Secret);
  const publicKey = auth.publicKey === undefined ? undefined : { key: createPublicKey(auth.publicKey.pem), algorithm: auth.publicKey.algorithm };
  const keySet = auth.jwks === undefined ? undefined : { lookup: createLocalJWKSet(auth.jwks.keySet as unknown as JSONWebKeySet), algorithms: auth.jwks.algorithms };
  return async (header) => {
    // jose has already refused an algorithm outside `algorithms`; here each algorithm finds only its own kind of key,
    // so a public key can never be used as an HMAC secret (algorithm confusion).
    if (header.alg === 'HS256' && hmacKey !== undefined) return hmacKey;
    if (publicKey !== undefined && header.alg === publicKey.algorithm && (header.kid === undefined || keySet === undefined)) return publicKey.key;
    if (keySet !== undefined && keySet.algorithms.includes(header.alg as 'EdDSA' | 'RS256')) return keySet.lookup(header);
    throw new errors.JOSEAlgNotAllowed(`no configured key verifies alg ${String(header.alg)}`);
  };
}

function describeJoseError(error: unknown): Refusal {
  if (error instanceof errors.JWTExpired) return refusal('token_expired', 'the token has expired (exp is in the past)');
  if (error instanceof errors.JWTClaimValidationFailed) return refusal('unauthenticated', `token claim ${error.claim} is invalid: ${error.reason}`);
  if (error instanceof errors.JOSEAlgNotAllowed) return refusal('unauthenticated', `the token's signing algorithm is not accepted here: ${error.message}`);
  if (error instanceof errors.JWSSignatureVerificationFailed) return refusal('unauthenticated', 'the token signature does not verify');
  if (error instanceof errors.JWKSNoMatchingKey) return refusal('unauthenticated', 'no configured key matches the token (kid / alg)');
  if (error instanceof errors.JOSEError) return refusal('unauthenticated', `the token is not a valid JWT: ${error.message}`);
  return refusal('unauthenticated', 'the token could not be verified');
}

function claimsOf(payload: Record<string, unknown>): TokenCheck {
  const { sub, session, role, exp } = payload;
  const bad = (message: string): TokenCheck => ({ ok: false, error: refusal('unauthenticated', message) });
  if (typeof sub !== 'string' || !ID_PATTERN.test(sub)) return bad(`token claim sub must be an id matching ${ID_PATTERN.source}`);
  if (typeof session !== 'string' || (session !== SERVICE_SESSION && !ID_PATTERN.test(session))) {
    return bad(`token claim session must be a session id matching ${ID_PATTERN.source} or "${SERVICE_SESSION}"`);
  }
  if (typeof role !== 'string' || !ROLES.includes(role as Role)) return bad(`token claim role must be one of ${ROLES.join(', ')}`);
  if (typeof exp !== 'number') return bad('token claim exp is required');
  return {
    ok: true,
    principal: { participant: sub, session, role: role as Role, service: session === SERVICE_SESSION, expiresAtMs: exp * 1000 },
  };
}

/** The admin credential: a separate bearer secret, compared in constant time. */
export class AdminCredential {
  readonly #digest: Buffer | undefined;

  constructor(secret: string | undefined) {
    this.#digest = secret === undefined ? undefined : sha256(secret);
  }

  get configured(): boolean {
    return this.#digest !== undefined;
  }

  /** Constant time in the presented value: both sides are hashed to 32 bytes first, so lengths leak nothing. */
  matches(presented: string): boolean {
    if (this.#digest === undefined) return false;
    return timingSafeEqual(this.#digest, sha256(presented));
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The token of an `Authorization: Bearer …` header, or undefined. */
export function bearerOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer +([^ ]+) *$/i.exec(header);
  return match?.[1];
}
