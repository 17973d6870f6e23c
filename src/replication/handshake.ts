/** Connection handshake: version, role, node id, epoch, and mutual proof of a
 *  pre-shared secret by HMAC challenge–response. Pure: the MAC and the nonce
 *  source are parameters; this file never sees the secret itself.
 *
 *  1. dialer → hello(nonceD)
 *  2. acceptor → hello(nonceA), auth(proofA = MAC("confstate/2 acceptor" | nonceA | nonceD))
 *  3. dialer checks proofA → auth(proofD = MAC("confstate/2 dialer" | nonceD | nonceA))
 *  4. acceptor checks proofD → welcome(role, epoch, digest shape)
 *
 *  Each proof binds both fresh nonces and the prover's side, so a recorded or
 *  reflected proof is useless. Nothing but hello/auth/refuse is accepted before
 *  step 4, so an unauthenticated peer gets nothing and changes nothing. */

import { NONCE_BYTES, PROTOCOL_VERSION, type Message, type Role } from './messages.ts';
import { encodeUtf8 } from './wire.ts';

/** HMAC-SHA256 keyed with the shared secret, built by the composition root. */
export interface Authenticator {
  sign(data: Uint8Array): Uint8Array;
  /** Constant-time check that `proof` is the MAC of `data`. */
  verify(data: Uint8Array, proof: Uint8Array): boolean;
}

export interface HandshakeIdentity {
  readonly role: Role;
  readonly nodeId: number;
  readonly epoch: number;
}

export type HandshakeOutcome =
  /** Keep going: send these messages. */
  | { readonly kind: 'continue'; readonly send: readonly Message[] }
  /** Authenticated; `peer` is who the other side said it is. */
  | { readonly kind: 'open'; readonly send: readonly Message[]; readonly peer: HandshakeIdentity; readonly welcome?: Message & { type: 'welcome' } }
  /** Refused: send these (a refuse message, if any), log `reason`, close. */
  | { readonly kind: 'refused'; readonly send: readonly Message[]; readonly code: string; readonly reason: string };

function proofData(side: 'acceptor' | 'dialer', own: Uint8Array, peer: Uint8Array): Uint8Array {
  const label = encodeUtf8(`confstate/${PROTOCOL_VERSION} ${side}`);
  const out = new Uint8Array(label.length + own.length + peer.length);
  out.set(label, 0);
  out.set(own, label.length);
  out.set(peer, label.length + own.length);
  return out;
}

/** The refusal of a first message that is not a hello of this protocol version. */
function helloRefusal(message: Message): HandshakeOutcome {
  if (message.type !== 'hello') return refused('protocol_error', `expected hello, got ${message.type}`, true);
  return refused('version_mismatch', `peer speaks protocol version ${message.version}; this node speaks ${PROTOCOL_VERSION}`, true);
}

function refused(code: string, reason: string, tell: boolean): HandshakeOutcome {
  return { kind: 'refused', send: tell ? [{ type: 'refuse', code, message: reason }] : [], code, reason };
}

/** The accepting side of a handshake (the server). */
export class AcceptorHandshake {
  #state: 'hello' | 'auth' | 'done' = 'hello';
  #peerNonce: Uint8Array | undefined;
  #peer: HandshakeIdentity | undefined;
  readonly #nonce: Uint8Array;

  constructor(
    private readonly self: HandshakeIdentity,
    private readonly auth: Authenticator,
    nonce: Uint8Array,
    /** What to tell an authenticated peer: our current role, epoch and digest shape. */
    private readonly welcome: () => Message & { type: 'welcome' },
    /** Roles allowed to connect to this server. */
    private readonly acceptRoles: readonly Role[],
  ) {
    if (nonce.length !== NONCE_BYTES) throw new RangeError(`nonce must be ${NONCE_BYTES} bytes`);
    this.#nonce = nonce;
  }

  handle(message: Message): HandshakeOutcome {
    if (this.#state === 'hello') {
      if (message.type !== 'hello' || message.version !== PROTOCOL_VERSION) return helloRefusal(message);
      if (!this.acceptRoles.includes(message.role)) {
        return refused('role_refused', `a ${message.role} cannot connect to a ${this.self.role}`, true);
      }
      this.#peerNonce = message.nonce;
      this.#peer = { role: message.role, nodeId: message.nodeId, epoch: message.epoch };
      this.#state = 'auth';
      const hello: Message = { type: 'hello', version: PROTOCOL_VERSION, role: this.self.role, nodeId: this.self.nodeId, epoch: this.self.epoch, nonce: this.#nonce };
      const proof = this.auth.sign(proofData('acceptor', this.#nonce, message.nonce));
      return { kind: 'continue', send: [hello, { type: 'auth', proof }] };
    }
    if (this.#state === 'auth') {
      if (message.type !== 'auth') return refused('protocol_error', `expected auth, got ${message.type}`, true);
      if (!this.auth.verify(proofData('dialer', this.#peerNonce!, this.#nonce), message.proof)) {
        this.#state = 'done';
        return refused('auth_failed', 'the peer did not prove the shared secret', true);
      }
      this.#state = 'done';
      const welcome = this.welcome();
      return { kind: 'open', send: [welcome], peer: this.#peer! };
    }
    return refused('protocol_error', `handshake already finished; got ${message.type}`, false);
  }
}

/** The dialing side of a handshake (a secondary, a client, `confstate check`). */
export class DialerHandshake {
  #state: 'hello' | 'auth' | 'welcome' | 'done' = 'hello';
  #peer: HandshakeIdentity | undefined;
  #peerNonce: Uint8Array | undefined;
  readonly #nonce: Uint8Array;

  constructor(
    private readonly self: HandshakeIdentity,
    private readonly auth: Authenticator,
    nonce: Uint8Array,
  ) {
    if (nonce.length !== NONCE_BYTES) throw new RangeError(`nonce must be ${NONCE_BYTES} bytes`);
    this.#nonce = nonce;
  }

  /** The first message to send on a fresh connection. */
  start(): Message {
    return { type: 'hello', version: PROTOCOL_VERSION, role: this.self.role, nodeId: this.self.nodeId, epoch: this.self.epoch, nonce: this.#nonce };
  }

  handle(message: Message): HandshakeOutcome {
    if (message.type === 'refuse') return refused(message.code, `peer refused: ${message.message}`, false);
    switch (this.#state) {
      case 'hello':
        if (message.type !== 'hello' || message.version !== PROTOCOL_VERSION) return helloRefusal(message);
        this.#peer = { role: message.role, nodeId: message.nodeId, epoch: message.epoch };
        this.#peerNonce = message.nonce;
        this.#state = 'auth';
        return { kind: 'continue', send: [] };
      case 'auth': {
        if (message.type !== 'auth') return refused('protocol_error', `expected auth, got ${message.type}`, true);
        if (!this.auth.verify(proofData('acceptor', this.#peerNonce!, this.#nonce), message.proof)) {
          this.#state = 'done';
          return refused('auth_failed', 'the server did not prove the shared secret', true);
        }
        this.#state = 'welcome';
        return { kind: 'continue', send: [{ type: 'auth', proof: this.auth.sign(proofData('dialer', this.#nonce, this.#peerNonce!)) }] };
      }
      case 'welcome':
        if (message.type !== 'welcome') return refused('protocol_error', `expected welcome, got ${message.type}`, true);
        this.#state = 'done';
        return { kind: 'open', send: [], peer: { ...this.#peer!, role: message.role, epoch: message.epoch }, welcome: message };
      case 'done':
        return refused('protocol_error', `handshake already finished; got ${message.type}`, false);
    }
  }

}
