/** The connection handshake (src/replication/handshake.ts): mutual HMAC proof
 *  of a shared secret over fresh nonces. Both sides are driven against each
 *  other with every message passed through the codec, as on a real link. */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AcceptorHandshake, type Authenticator, DialerHandshake, type HandshakeIdentity, type HandshakeOutcome } from '../../src/replication/handshake.ts';
import { FRAME_HEADER_BYTES, type Message, PROTOCOL_VERSION, type Role, decodeBody, encodeFrame } from '../../src/replication/messages.ts';
import { anyMessageArbitrary } from '../support/message-arbitraries.ts';
import { propertyOptions } from '../support/property.ts';

/** HMAC-SHA256 keyed with `secret`, checked in constant time. */
function hmacAuthenticator(secret: Uint8Array): Authenticator {
  const mac = (data: Uint8Array) => new Uint8Array(createHmac('sha256', secret).update(data).digest());
  return {
    sign: mac,
    verify: (data, proof) => {
      const expected = mac(data);
      return proof.length === expected.length && timingSafeEqual(expected, proof);
    },
  };
}

/** An impostor's authenticator: signs with its (wrong) secret and believes any proof it is shown. */
function gullibleAuthenticator(secret: Uint8Array): Authenticator {
  return { sign: hmacAuthenticator(secret).sign, verify: () => true };
}

const SECRET = new Uint8Array(randomBytes(32));
const OTHER_SECRET = new Uint8Array(randomBytes(32));

const PRIMARY: HandshakeIdentity = { role: 'primary', nodeId: 1, epoch: 7 };
const SECONDARY: HandshakeIdentity = { role: 'secondary', nodeId: 2, epoch: 6 };
const WELCOME: Message & { type: 'welcome' } = { type: 'welcome', role: 'primary', epoch: 7, digestLeafBits: 12, digestFanoutBits: 4 };

/** A message as the other side receives it: encoded into a frame and decoded again. */
function wire(message: Message): Message {
  return decodeBody(encodeFrame(message).subarray(FRAME_HEADER_BYTES));
}

function nonce(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

function acceptor(options: { secret?: Uint8Array; nonce?: Uint8Array; acceptRoles?: readonly Role[]; self?: HandshakeIdentity } = {}): AcceptorHandshake {
  return new AcceptorHandshake(
    options.self ?? PRIMARY,
    hmacAuthenticator(options.secret ?? SECRET),
    options.nonce ?? nonce(),
    () => WELCOME,
    options.acceptRoles ?? ['secondary', 'client'],
  );
}

function dialer(options: { secret?: Uint8Array; nonce?: Uint8Array; self?: HandshakeIdentity; auth?: Authenticator } = {}): DialerHandshake {
  return new DialerHandshake(options.self ?? SECONDARY, options.auth ?? hmacAuthenticator(options.secret ?? SECRET), options.nonce ?? nonce());
}

function expectRefused(outcome: HandshakeOutcome, code: string, tells = true): void {
  expect(outcome.kind, JSON.stringify(outcome, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))).toBe('refused');
  if (outcome.kind !== 'refused') return;
  expect(outcome.code).toBe(code);
  // A refusal sends at most a refuse message naming the same code, never a welcome or a proof.
  expect(outcome.send).toEqual(tells ? [{ type: 'refuse', code, message: outcome.reason }] : []);
}

function sent(outcome: HandshakeOutcome): Message[] {
  return outcome.send.map(wire);
}

/** Drives the acceptor to the point where it waits for the dialer's proof; returns what it sent (hello, auth). */
function openingOf(a: AcceptorHandshake, d: DialerHandshake): { hello: Message & { type: 'hello' }; auth: Message & { type: 'auth' } } {
  const outcome = a.handle(wire(d.start()));
  expect(outcome.kind).toBe('continue');
  const [hello, auth] = sent(outcome);
  expect(hello?.type).toBe('hello');
  expect(auth?.type).toBe('auth');
  return { hello: hello as Message & { type: 'hello' }, auth: auth as Message & { type: 'auth' } };
}

/** Runs the full exchange; returns each side's outcomes in order. */
function run(a: AcceptorHandshake, d: DialerHandshake): { acceptor: HandshakeOutcome[]; dialer: HandshakeOutcome[] } {
  const result = { acceptor: [] as HandshakeOutcome[], dialer: [] as HandshakeOutcome[] };
  let toAcceptor: Message[] = [wire(d.start())];
  while (toAcceptor.length > 0) {
    const toDialer: Message[] = [];
    for (const m of toAcceptor) {
      const outcome = a.handle(m);
      result.acceptor.push(outcome);
      toDialer.push(...sent(outcome));
      if (outcome.kind === 'refused') break;
    }
    toAcceptor = [];
    for (const m of toDialer) {
      const outcome = d.handle(m);
      result.dialer.push(outcome);
      toAcceptor.push(...sent(outcome));
      if (outcome.kind === 'refused') break;
    }
    if (result.acceptor.at(-1)?.kind === 'refused' || result.dialer.at(-1)?.kind === 'refused') break;
  }
  return result;
}

describe('handshake: success', () => {
  it('handshake: with the same secret both sides open; the acceptor learns the dialer, the dialer gets the welcome', () => {
    const a = acceptor();
    const d = dialer();
    const { acceptor: acceptorOutcomes, dialer: dialerOutcomes } = run(a, d);

    expect(acceptorOutcomes.map((o) => o.kind)).toEqual(['continue', 'open']);
    expect(dialerOutcomes.map((o) => o.kind)).toEqual(['continue', 'continue', 'open']);

    const acceptorOpen = acceptorOutcomes.at(-1)!;
    expect(acceptorOpen).toMatchObject({ kind: 'open', peer: { role: 'secondary', nodeId: 2, epoch: 6 } });
    expect(acceptorOpen.send).toEqual([WELCOME]);

    const dialerOpen = dialerOutcomes.at(-1)!;
    expect(dialerOpen).toMatchObject({ kind: 'open', send: [], peer: { role: 'primary', nodeId: 1, epoch: 7 } });
    expect(dialerOpen.kind === 'open' && dialerOpen.welcome).toEqual(WELCOME);
  });

  it('handshake: the dialer sends exactly one proof, and only after checking the acceptor\'s', () => {
    const a = acceptor();
    const d = dialer();
    const { hello, auth } = openingOf(a, d);
    expect(d.handle(hello)).toEqual({ kind: 'continue', send: [] });
    const afterProof = d.handle(auth);
    expect(afterProof.kind).toBe('continue');
    expect(afterProof.send.map((m) => m.type)).toEqual(['auth']);
    expect(a.handle(wire(afterProof.send[0]!)).kind).toBe('open');
  });

  it('handshake: proofs are fresh in every session (same parties, new nonces, different proofs)', () => {
    const first = openingOf(acceptor(), dialer());
    const second = openingOf(acceptor(), dialer());
    expect(Buffer.from(first.auth.proof).equals(Buffer.from(second.auth.proof))).toBe(false);
    expect(Buffer.from(first.hello.nonce).equals(Buffer.from(second.hello.nonce))).toBe(false);
  });

  it('handshake: a client may dial a primary that accepts clients; the acceptor reports its role and node id', () => {
    const client: HandshakeIdentity = { role: 'client', nodeId: 15, epoch: 0 };
    const { acceptor: outcomes } = run(acceptor(), dialer({ self: client }));
    expect(outcomes.at(-1)).toMatchObject({ kind: 'open', peer: client });
  });

  it('handshake: both constructors refuse a nonce that is not 32 bytes', () => {
    for (const length of [0, 16, 31, 33]) {
      expect(() => acceptor({ nonce: new Uint8Array(length) })).toThrow(RangeError);
      expect(() => dialer({ nonce: new Uint8Array(length) })).toThrow(RangeError);
    }
  });
});

describe('handshake: authentication failures', () => {
  it('handshake: with a wrong secret the dialer refuses the acceptor\'s proof with auth_failed and sends no proof of its own', () => {
    const a = acceptor();
    const d = dialer({ secret: OTHER_SECRET });
    const { hello, auth } = openingOf(a, d);
    expect(d.handle(hello).kind).toBe('continue');
    const outcome = d.handle(auth);
    expectRefused(outcome, 'auth_failed');
  });

  it('handshake: with a wrong secret the acceptor refuses the dialer\'s proof with auth_failed and sends no welcome', () => {
    const a = acceptor();
    const impostor = dialer({ auth: gullibleAuthenticator(OTHER_SECRET) });
    const { acceptor: acceptorOutcomes, dialer: dialerOutcomes } = run(a, impostor);
    expect(dialerOutcomes.map((o) => o.kind)).toEqual(['continue', 'continue', 'refused']); // it got the acceptor's refuse
    expectRefused(acceptorOutcomes.at(-1)!, 'auth_failed');
    expect(dialerOutcomes.at(-1)).toMatchObject({ kind: 'refused', code: 'auth_failed', send: [] });
  });

  it('handshake: any proof bytes but the right ones are refused with auth_failed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (proof) => {
        const a = acceptor();
        openingOf(a, dialer());
        expectRefused(a.handle(wire({ type: 'auth', proof })), 'auth_failed');
      }),
      propertyOptions(),
    );
  });

  it('handshake: a proof of the wrong length is refused with auth_failed, not an exception', () => {
    for (const length of [0, 16, 31, 33, 64]) {
      const a = acceptor();
      openingOf(a, dialer());
      // Not encodable as a frame (auth carries exactly 32 bytes): handed in directly.
      expectRefused(a.handle({ type: 'auth', proof: new Uint8Array(length) }), 'auth_failed');
      const d = dialer();
      const { hello } = openingOf(acceptor(), d);
      d.handle(hello);
      expectRefused(d.handle({ type: 'auth', proof: new Uint8Array(length) }), 'auth_failed');
    }
  });

  it('handshake: a proof replayed from a previous session (with that session\'s dialer nonce) is refused with auth_failed', () => {
    // Session 1, recorded by an eavesdropper.
    const d1 = dialer();
    const hello1 = wire(d1.start());
    const a1 = acceptor();
    const opening1 = sent(a1.handle(hello1));
    d1.handle(opening1[0]!);
    const proof1 = sent(d1.handle(opening1[1]!))[0]!;
    expect(a1.handle(proof1).kind).toBe('open');

    // Session 2: the eavesdropper replays the dialer's hello and proof; the acceptor's nonce is new.
    const a2 = acceptor();
    expect(a2.handle(hello1).kind).toBe('continue');
    expectRefused(a2.handle(proof1), 'auth_failed');

    // Replaying to an acceptor with the very same nonce as session 1 is the only way it would pass:
    // fresh random nonces are what make the replay useless.
    const a1Nonce = (opening1[0] as Message & { type: 'hello' }).nonce;
    const aSame = acceptor({ nonce: a1Nonce });
    aSame.handle(hello1);
    expect(aSame.handle(proof1).kind).toBe('open');
  });

  it('handshake: a proof replayed with a different dialer nonce is refused with auth_failed', () => {
    const a1 = acceptor();
    const d1 = dialer();
    const { hello, auth } = openingOf(a1, d1);
    d1.handle(hello);
    const proof1 = sent(d1.handle(auth))[0]!;

    const a2 = acceptor();
    a2.handle(wire(dialer().start()));
    expectRefused(a2.handle(proof1), 'auth_failed');
  });

  it('handshake: the acceptor\'s own proof reflected back as the dialer\'s is refused with auth_failed', () => {
    const a = acceptor();
    const { auth } = openingOf(a, dialer({ auth: gullibleAuthenticator(OTHER_SECRET) }));
    expectRefused(a.handle(auth), 'auth_failed');
  });

  it('handshake: a proof obtained from a second acceptor with the nonces swapped cannot stand in for the dialer\'s proof', () => {
    // The attacker dials acceptor 1 with nonce nD and learns nA. It then dials acceptor 2
    // (whose nonce happens to be nD) with nonce nA: acceptor 2 signs exactly the nonces
    // acceptor 1 wants signed, nD then nA, but as an acceptor.
    const nD = nonce();
    const nA = nonce();
    const a1 = acceptor({ nonce: nA });
    const attackerHello: Message = { type: 'hello', version: PROTOCOL_VERSION, role: 'secondary', nodeId: 2, epoch: 6, nonce: nD };
    expect(a1.handle(wire(attackerHello)).kind).toBe('continue');

    const a2 = acceptor({ nonce: nD });
    const reflected = sent(a2.handle(wire({ ...attackerHello, nonce: nA })))[1]!;
    expect(reflected.type).toBe('auth');
    expectRefused(a1.handle(reflected), 'auth_failed');
  });

  it('handshake: a dialer refuses its own kind of proof reflected back by a fake acceptor', () => {
    // A fake acceptor echoes the dialer's nonce as its own and offers a proof made with the
    // dialer label (as if it had another dialer sign for it): the dialer wants the acceptor label.
    const nD = nonce();
    const d = dialer({ nonce: nD });
    d.handle(wire({ type: 'hello', version: PROTOCOL_VERSION, role: 'primary', nodeId: 1, epoch: 7, nonce: nD }));
    const label = new TextEncoder().encode(`confstate/${PROTOCOL_VERSION} dialer`);
    const dialerStyle = hmacAuthenticator(SECRET).sign(Buffer.concat([label, nD, nD]));
    expectRefused(d.handle(wire({ type: 'auth', proof: dialerStyle })), 'auth_failed');
  });

  it('handshake: after auth_failed the acceptor does not accept a second attempt, even the right proof', () => {
    const a = acceptor();
    const d = dialer();
    const { hello, auth } = openingOf(a, d);
    d.handle(hello);
    const rightProof = sent(d.handle(auth))[0]!;
    expectRefused(a.handle(wire({ type: 'auth', proof: new Uint8Array(32) })), 'auth_failed');
    expectRefused(a.handle(rightProof), 'protocol_error', false);
  });
});

describe('handshake: protocol errors', () => {
  const nonAuth = anyMessageArbitrary({ listMax: 2, textMax: 8, jsonDepthMax: 2 }).filter((m) => m.type !== 'auth');
  const nonHello = anyMessageArbitrary({ listMax: 2, textMax: 8, jsonDepthMax: 2 }).filter((m) => m.type !== 'hello');

  it('handshake: a dialer that opens with anything but hello is refused with protocol_error', () => {
    fc.assert(
      fc.property(nonHello, (message) => {
        expectRefused(acceptor().handle(wire(message)), 'protocol_error');
      }),
      propertyOptions(),
    );
  });

  it('handshake: a dialer that skips auth (sends welcome, update or anything else) is refused with protocol_error', () => {
    const skips: Message[] = [
      WELCOME,
      { type: 'update', requestId: 1, key: 's/a/p/1', ts: 0, deleted: false, value: { evil: true } },
      { type: 'get', requestId: 1, key: 's/a/p/1' },
      { type: 'replicate', firstSeq: 0, elements: [{ key: 's/a/p/1', ts: 1, deleted: false, value: 1 }] },
      { type: 'check_request', requestId: 1, repair: true },
      { type: 'test_corrupt', requestId: 1, key: 's/a/p/1', ts: 1, value: 1 },
      { type: 'hello', version: PROTOCOL_VERSION, role: 'secondary', nodeId: 2, epoch: 6, nonce: nonce() },
    ];
    for (const skip of skips) {
      const a = acceptor();
      openingOf(a, dialer());
      expectRefused(a.handle(wire(skip)), 'protocol_error');
    }
    fc.assert(
      fc.property(nonAuth, (message) => {
        const a = acceptor();
        openingOf(a, dialer());
        expectRefused(a.handle(wire(message)), 'protocol_error');
      }),
      propertyOptions(),
    );
  });

  it('handshake: a dialer speaking another protocol version is refused with version_mismatch, before any proof', () => {
    for (const version of [0, PROTOCOL_VERSION + 1, 0xffff]) {
      const hello: Message = { type: 'hello', version, role: 'secondary', nodeId: 2, epoch: 6, nonce: nonce() };
      const outcome = acceptor().handle(wire(hello));
      expectRefused(outcome, 'version_mismatch');
      expect(outcome.kind === 'refused' && outcome.reason).toContain(String(version));
    }
  });

  it('handshake: the dialer refuses an acceptor speaking another protocol version with version_mismatch, and reports a version_mismatch refusal', () => {
    const d = dialer();
    d.start();
    expectRefused(d.handle(wire({ type: 'hello', version: PROTOCOL_VERSION + 1, role: 'primary', nodeId: 1, epoch: 7, nonce: nonce() })), 'version_mismatch');

    // The acceptor's refusal reaches the dialer as a refuse message carrying the code.
    const d2 = dialer();
    const a = acceptor();
    const refusal = sent(a.handle(wire({ ...(d2.start() as Message & { type: 'hello' }), version: 9 })));
    expect(d2.handle(refusal[0]!)).toMatchObject({ kind: 'refused', code: 'version_mismatch', send: [] });
  });

  it('handshake: a role not in acceptRoles is refused with role_refused', () => {
    const cases: [readonly Role[], HandshakeIdentity][] = [
      [['secondary', 'client'], { role: 'primary', nodeId: 3, epoch: 7 }],
      [['secondary'], { role: 'client', nodeId: 15, epoch: 0 }],
      [['client'], SECONDARY],
      [[], SECONDARY],
    ];
    for (const [acceptRoles, self] of cases) {
      const d = dialer({ self });
      const outcome = acceptor({ acceptRoles }).handle(wire(d.start()));
      expectRefused(outcome, 'role_refused');
      const told = d.handle(sent(outcome)[0]!);
      expect(told).toMatchObject({ kind: 'refused', code: 'role_refused' });
    }
  });

  it('handshake: messages after the acceptor is done are refused with protocol_error, sending nothing', () => {
    const a = acceptor();
    const d = dialer();
    const { acceptor: outcomes } = run(a, d);
    expect(outcomes.at(-1)?.kind).toBe('open');
    for (const m of [WELCOME, d.start(), { type: 'auth', proof: new Uint8Array(32) } as Message, { type: 'ack', seq: 1 } as Message]) {
      expectRefused(a.handle(wire(m)), 'protocol_error', false);
    }
  });

  it('handshake: messages after the dialer is done are refused with protocol_error, sending nothing', () => {
    const d = dialer();
    const { dialer: outcomes } = run(acceptor(), d);
    expect(outcomes.at(-1)?.kind).toBe('open');
    for (const m of [WELCOME, { type: 'hello', version: PROTOCOL_VERSION, role: 'primary', nodeId: 1, epoch: 7, nonce: nonce() } as Message, { type: 'auth', proof: new Uint8Array(32) } as Message]) {
      expectRefused(d.handle(wire(m)), 'protocol_error', false);
    }
  });

  it('handshake: the dialer refuses a server that skips its hello or its proof with protocol_error', () => {
    // auth before hello
    const d1 = dialer();
    d1.start();
    expectRefused(d1.handle(wire({ type: 'auth', proof: new Uint8Array(32) })), 'protocol_error');
    // welcome instead of a proof
    const a = acceptor();
    const d2 = dialer();
    const { hello } = openingOf(a, d2);
    d2.handle(hello);
    expectRefused(d2.handle(wire(WELCOME)), 'protocol_error');
    // anything but welcome after the dialer's proof
    const d3 = dialer();
    const opening = openingOf(acceptor(), d3);
    d3.handle(opening.hello);
    d3.handle(opening.auth);
    expectRefused(d3.handle(wire({ type: 'replicate', firstSeq: 0, elements: [] })), 'protocol_error');
  });

  it('handshake: a refuse message at any point ends the dialer\'s handshake with the peer\'s code', () => {
    const refuse: Message = { type: 'refuse', code: 'not_primary', message: 'this node is a secondary' };
    // before hello
    const d1 = dialer();
    d1.start();
    expect(d1.handle(wire(refuse))).toMatchObject({ kind: 'refused', code: 'not_primary', send: [] });
    // after the dialer's proof
    const d2 = dialer();
    const opening = openingOf(acceptor(), d2);
    d2.handle(opening.hello);
    d2.handle(opening.auth);
    expect(d2.handle(wire(refuse))).toMatchObject({ kind: 'refused', code: 'not_primary', send: [] });
  });
});
