import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HybridClock,
  LOGICAL_MAX,
  NODE_ID_MAX,
  PHYSICAL_MS_MAX,
  TIMESTAMP_EPOCH_UNIX_MS,
  type Timestamp,
  formatTimestamp,
  isTimestamp,
  logicalOf,
  nodeIdOf,
  packTimestamp,
  physicalMsOf,
  unixMsOf,
} from '../../src/core/clock.ts';
import { propertyOptions } from '../support/property.ts';

/** A wall clock the test moves by hand. */
class FakeWall {
  constructor(public nowMs: number) {}
  readonly clock = { nowMs: (): number => this.nowMs };
}

/** 2026-03-01T12:00:00Z: a realistic wall-clock reading. */
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const SKEW = 5_000;

function makeClock(nodeId = 3, start = T0, maxClockSkewMs = SKEW): { wall: FakeWall; clock: HybridClock } {
  const wall = new FakeWall(start);
  return { wall, clock: new HybridClock(wall.clock, { nodeId, maxClockSkewMs }) };
}

/** One step of a wall-clock script: set the wall (absolute offset from T0), then issue `issues` timestamps. */
const wallStep = fc.record({
  jumpMs: fc.oneof(
    fc.integer({ min: -5, max: 5 }), // jitter around the same millisecond
    fc.integer({ min: -600_000, max: 600_000 }), // NTP steps of up to 10 minutes either way
    fc.double({ min: -1_000, max: 1_000, noNaN: true }), // fractional readings
  ),
  issues: fc.integer({ min: 1, max: 300 }), // sometimes more than 256 in one ms
});

describe('clock: HybridClock.now()', () => {
  it('clock: now() stays strictly increasing when the wall clock jumps backward and forward at random', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: NODE_ID_MAX }), fc.array(wallStep, { minLength: 1, maxLength: 30 }), (nodeId, steps) => {
        const { wall, clock } = makeClock(nodeId);
        let previous = 0;
        // Plain checks in the hot loop (expect() per timestamp is slow); the first failure is reported.
        let failure: string | undefined;
        for (const step of steps) {
          wall.nowMs += step.jumpMs;
          for (let i = 0; i < step.issues && failure === undefined; i++) {
            const ts = clock.now();
            if (!isTimestamp(ts) || ts <= previous || nodeIdOf(ts) !== nodeId || clock.last() !== ts) {
              failure = `now() returned ${ts} (${formatTimestamp(ts)}) after ${previous} (${formatTimestamp(previous)}), last() ${clock.last()}`;
            }
            previous = ts;
          }
        }
        expect(failure).toBeUndefined();
        expect(previous).toBeGreaterThan(0);
      }),
      propertyOptions(),
    );
  });

  it('clock: now() stays monotonic when the wall clock steps back by an hour', () => {
    const { wall, clock } = makeClock();
    const before = clock.now();
    wall.nowMs -= 3_600_000;
    const after = [clock.now(), clock.now(), clock.now()];
    expect(after[0]).toBeGreaterThan(before);
    expect(after[1]).toBeGreaterThan(after[0]!);
    expect(after[2]).toBeGreaterThan(after[1]!);
    // It keeps the physical time it reached instead of following the wall back.
    expect(physicalMsOf(after[2]!)).toBe(physicalMsOf(before));
  });

  it('clock: now() follows the wall clock when it moves forward', () => {
    const { wall, clock } = makeClock();
    const first = clock.now();
    expect(unixMsOf(first)).toBe(T0);
    expect(logicalOf(first)).toBe(0);
    wall.nowMs += 1234;
    const second = clock.now();
    expect(unixMsOf(second)).toBe(T0 + 1234);
    expect(logicalOf(second)).toBe(0);
  });

  it('clock: 256 timestamps fit in one millisecond, the 257th borrows the next ms and order is kept', () => {
    const { wall, clock } = makeClock(7);
    const issued: Timestamp[] = [];
    for (let i = 0; i <= LOGICAL_MAX; i++) issued.push(clock.now());
    expect(issued).toHaveLength(256);
    issued.forEach((ts, i) => {
      expect(unixMsOf(ts)).toBe(T0);
      expect(logicalOf(ts)).toBe(i);
    });
    const borrowed = clock.now();
    expect(unixMsOf(borrowed)).toBe(T0 + 1);
    expect(logicalOf(borrowed)).toBe(0);
    expect(borrowed).toBeGreaterThan(issued[255]!);
    // The wall is still at T0: the clock keeps counting in the borrowed ms.
    const next = clock.now();
    expect(unixMsOf(next)).toBe(T0 + 1);
    expect(logicalOf(next)).toBe(1);
    // The wall catches up with the borrowed ms: still counting, no repeat.
    wall.nowMs = T0 + 1;
    const caughtUp = clock.now();
    expect(caughtUp).toBeGreaterThan(next);
    expect(logicalOf(caughtUp)).toBe(2);
    // The wall passes it: back to logical 0 on the wall's ms.
    wall.nowMs = T0 + 2;
    const passed = clock.now();
    expect(unixMsOf(passed)).toBe(T0 + 2);
    expect(logicalOf(passed)).toBe(0);
    expect(passed).toBeGreaterThan(caughtUp);
  });

  it('clock: last() is 0 before any timestamp was issued or observed', () => {
    const { clock } = makeClock();
    expect(clock.last()).toBe(0);
    const ts = clock.now();
    expect(clock.last()).toBe(ts);
  });

  it('clock: two clocks with different node ids never issue equal timestamps on identical wall clocks', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: NODE_ID_MAX }), { minLength: 2, maxLength: 2 }),
        fc.array(fc.tuple(fc.integer({ min: -3, max: 3 }), fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 400 }),
        ([idA, idB], script) => {
          const wall = new FakeWall(T0);
          const a = new HybridClock(wall.clock, { nodeId: idA!, maxClockSkewMs: SKEW });
          const b = new HybridClock(wall.clock, { nodeId: idB!, maxClockSkewMs: SKEW });
          const seen = new Set<Timestamp>();
          let count = 0;
          for (const [jump, useA, exchange] of script) {
            wall.nowMs += jump;
            const ts = (useA ? a : b).now();
            seen.add(ts);
            count++;
            // Sometimes the other node learns about it, which pulls the two clocks into the same ms.
            if (exchange) expect((useA ? b : a).observe(ts)).toBeUndefined();
          }
          expect(seen.size).toBe(count);
        },
      ),
      propertyOptions(),
    );
  });

  it('clock: the constructor refuses node ids outside 0..15', () => {
    const wall = new FakeWall(T0);
    for (const nodeId of [-1, 16, 1.5, Number.NaN, 255]) {
      expect(() => new HybridClock(wall.clock, { nodeId, maxClockSkewMs: SKEW }), `node id ${nodeId}`).toThrow(RangeError);
    }
    for (const nodeId of [0, NODE_ID_MAX]) {
      expect(new HybridClock(wall.clock, { nodeId, maxClockSkewMs: SKEW }).nodeId).toBe(nodeId);
    }
  });

  it('clock: the constructor refuses a negative or non-finite maxClockSkewMs', () => {
    const wall = new FakeWall(T0);
    for (const maxClockSkewMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new HybridClock(wall.clock, { nodeId: 0, maxClockSkewMs })).toThrow(RangeError);
    }
  });
});

describe('clock: HybridClock.observe()', () => {
  it('clock: after observe(ts) succeeds, every later now() is greater than ts', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: NODE_ID_MAX }),
        fc.integer({ min: 0, max: NODE_ID_MAX }),
        fc.integer({ min: -600_000, max: SKEW }), // remote physical ms relative to the wall, within the skew
        fc.integer({ min: 0, max: LOGICAL_MAX }),
        fc.integer({ min: 0, max: 300 }), // local timestamps issued before the observe
        fc.array(fc.integer({ min: -10_000, max: 10_000 }), { minLength: 1, maxLength: 20 }), // later wall jumps
        (localNode, remoteNode, aheadMs, logical, before, laterJumps) => {
          const { wall, clock } = makeClock(localNode);
          for (let i = 0; i < before; i++) clock.now();
          const remote = packTimestamp(T0 - TIMESTAMP_EPOCH_UNIX_MS + aheadMs, logical, remoteNode);
          expect(clock.observe(remote)).toBeUndefined();
          expect(clock.last()).toBeGreaterThanOrEqual(remote - remoteNode);
          let previous = remote;
          for (const jump of laterJumps) {
            wall.nowMs += jump;
            const ts = clock.now();
            expect(ts).toBeGreaterThan(previous);
            previous = ts;
          }
        },
      ),
      propertyOptions(),
    );
  });

  it('clock: observe() accepts a timestamp exactly maxClockSkewMs ahead and refuses one 1 ms further', () => {
    const { clock } = makeClock(1);
    const wallPhysical = T0 - TIMESTAMP_EPOCH_UNIX_MS;
    expect(clock.observe(packTimestamp(wallPhysical + SKEW, LOGICAL_MAX, 9))).toBeUndefined();
    const refused = clock.observe(packTimestamp(wallPhysical + SKEW + 1, 0, 9));
    expect(refused).toMatchObject({ code: 'clock_skew', aheadMs: SKEW + 1, maxClockSkewMs: SKEW });
    expect(refused?.message).toContain('ahead');
  });

  it('clock: observe() refuses a timestamp more than maxClockSkewMs ahead with clock_skew and changes nothing', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: SKEW + 1, max: 10 * 365 * 86_400_000 }), // how far ahead, up to ten years
        fc.integer({ min: 0, max: LOGICAL_MAX }),
        fc.integer({ min: 0, max: NODE_ID_MAX }),
        fc.integer({ min: 0, max: 300 }),
        fc.array(fc.integer({ min: -1_000, max: 1_000 }), { minLength: 1, maxLength: 10 }),
        (aheadMs, logical, remoteNode, before, laterJumps) => {
          // Two identical clocks on one wall; only one of them is offered the bad timestamp.
          const wall = new FakeWall(T0);
          const clock = new HybridClock(wall.clock, { nodeId: 4, maxClockSkewMs: SKEW });
          const twin = new HybridClock(wall.clock, { nodeId: 4, maxClockSkewMs: SKEW });
          let diverged = 0;
          for (let i = 0; i < before; i++) if (clock.now() !== twin.now()) diverged++;
          expect(diverged).toBe(0);
          const bad = packTimestamp(T0 - TIMESTAMP_EPOCH_UNIX_MS + aheadMs, logical, remoteNode);
          const lastBefore = clock.last();
          const error = clock.observe(bad);
          expect(error).toEqual({
            code: 'clock_skew',
            ts: bad,
            aheadMs,
            maxClockSkewMs: SKEW,
            message: expect.stringContaining(formatTimestamp(bad)) as unknown,
          });
          expect(clock.last()).toBe(lastBefore);
          // The refused timestamp did not pull the clock forward…
          const next = clock.now();
          expect(next).toBe(twin.now());
          expect(next).toBeLessThan(bad);
          // …and the clock keeps issuing exactly what the twin issues as the wall moves on.
          const issued: [Timestamp, Timestamp][] = [];
          for (const jump of laterJumps) {
            wall.nowMs += jump;
            issued.push([clock.now(), twin.now()]);
          }
          expect(issued.map(([a]) => a)).toEqual(issued.map(([, b]) => b));
        },
      ),
      propertyOptions(),
    );
  });

  it('clock: observe() refuses malformed timestamps with invalid_timestamp and changes nothing', () => {
    const malformed: unknown[] = [
      -1,
      -4096,
      1.5,
      packTimestamp(1000, 0, 0) + 0.25,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      '123',
      '',
      null,
      undefined,
      {},
      [4096],
      10n,
      Number.MAX_SAFE_INTEGER + 1,
      2 ** 60,
    ];
    const wall = new FakeWall(T0);
    const clock = new HybridClock(wall.clock, { nodeId: 2, maxClockSkewMs: SKEW });
    const twin = new HybridClock(wall.clock, { nodeId: 2, maxClockSkewMs: SKEW });
    expect(clock.now()).toBe(twin.now());
    for (const ts of malformed) {
      const error = clock.observe(ts);
      expect(error, `observe(${String(ts)})`).toMatchObject({ code: 'invalid_timestamp' });
      expect(error?.ts).toBe(ts);
      expect(error?.message).toContain('not a non-negative safe integer');
      expect(clock.observeTrusted(ts as number), `observeTrusted(${String(ts)})`).toMatchObject({ code: 'invalid_timestamp' });
      expect(clock.now()).toBe(twin.now());
    }
  });

  it('clock: observe() accepts 0 and timestamps in the past without moving the clock', () => {
    const { clock } = makeClock();
    const first = clock.now();
    expect(clock.observe(0)).toBeUndefined();
    expect(clock.observe(packTimestamp(1, 0, 0))).toBeUndefined();
    expect(clock.last()).toBe(first);
    expect(clock.now()).toBe(first + 16); // the next logical step, nothing more
  });

  it('clock: observeTrusted() skips the skew check and still moves every later now() past the timestamp', () => {
    const { wall, clock } = makeClock(5);
    const farAhead = packTimestamp(T0 - TIMESTAMP_EPOCH_UNIX_MS + 10 * 86_400_000, 17, 11);
    expect(clock.observe(farAhead)).toMatchObject({ code: 'clock_skew' });
    expect(clock.observeTrusted(farAhead)).toBeUndefined();
    const next = clock.now();
    expect(next).toBeGreaterThan(farAhead);
    expect(physicalMsOf(next)).toBe(physicalMsOf(farAhead));
    expect(logicalOf(next)).toBe(18);
    wall.nowMs -= 60_000;
    expect(clock.now()).toBeGreaterThan(next);
  });

  it('clock: observeTrusted() accepts a timestamp just below the last millisecond and now() still exceeds it', () => {
    const { clock } = makeClock(0);
    const largest = packTimestamp(PHYSICAL_MS_MAX - 1, LOGICAL_MAX, NODE_ID_MAX);
    expect(clock.observeTrusted(largest)).toBeUndefined();
    const next = clock.now();
    expect(next).toBeGreaterThan(largest);
    expect(Number.isSafeInteger(next)).toBe(true);
  });

  it('clock: observe() and observeTrusted() refuse timestamps in the last millisecond of the range, so now() can always pass them', () => {
    const { clock } = makeClock(0);
    for (const ts of [packTimestamp(PHYSICAL_MS_MAX, 0, 0), Number.MAX_SAFE_INTEGER]) {
      expect(clock.observeTrusted(ts)).toMatchObject({ code: 'invalid_timestamp' });
      expect(clock.observe(ts)).toMatchObject({ code: 'invalid_timestamp' });
    }
    expect(clock.last()).toBe(0);
  });

  // At the end of the 41-bit range the clock cannot stay both strictly
  // increasing and a safe integer; it must then refuse loudly (throw) rather
  // than issue a number that is no timestamp (and loses its node id to rounding).
  function expectOnlyWellFormedTimestamps(clock: HybridClock, nodeId: number): void {
    let previous = 0;
    for (let i = 0; i < 300; i++) {
      let ts: Timestamp;
      try {
        ts = clock.now();
      } catch {
        return; // refusing is fine
      }
      expect(isTimestamp(ts), `call ${i}: now() returned ${ts}, which is not a safe integer`).toBe(true);
      expect(nodeIdOf(ts)).toBe(nodeId);
      expect(ts).toBeGreaterThan(previous);
      previous = ts;
    }
  }

  it('clock: with the wall clock beyond 2094 (the 41-bit range), now() throws rather than issue a malformed timestamp', () => {
    const { clock } = makeClock(3, TIMESTAMP_EPOCH_UNIX_MS + PHYSICAL_MS_MAX + 86_400_000);
    expectOnlyWellFormedTimestamps(clock, 3);
  });
});

describe('clock: timestamp packing', () => {
  const fields = fc.tuple(
    fc.integer({ min: 0, max: PHYSICAL_MS_MAX }),
    fc.integer({ min: 0, max: LOGICAL_MAX }),
    fc.integer({ min: 0, max: NODE_ID_MAX }),
  );

  it('clock: packTimestamp round-trips through physicalMsOf, logicalOf and nodeIdOf', () => {
    fc.assert(
      fc.property(fields, ([physical, logical, node]) => {
        const ts = packTimestamp(physical, logical, node);
        expect(Number.isSafeInteger(ts)).toBe(true);
        expect(isTimestamp(ts)).toBe(true);
        expect(physicalMsOf(ts)).toBe(physical);
        expect(logicalOf(ts)).toBe(logical);
        expect(nodeIdOf(ts)).toBe(node);
        expect(unixMsOf(ts)).toBe(physical + TIMESTAMP_EPOCH_UNIX_MS);
      }),
      propertyOptions(),
    );
  });

  it('clock: the numeric order of packed timestamps is the lexicographic order of (physical, logical, node)', () => {
    const near = fields.chain(([p, l, n]) =>
      fc.tuple(
        fc.constant([p, l, n] as const),
        fc.tuple(
          fc.oneof(fc.constant(p), fc.integer({ min: Math.max(0, p - 1), max: Math.min(PHYSICAL_MS_MAX, p + 1) }), fc.integer({ min: 0, max: PHYSICAL_MS_MAX })),
          fc.oneof(fc.constant(l), fc.integer({ min: 0, max: LOGICAL_MAX })),
          fc.oneof(fc.constant(n), fc.integer({ min: 0, max: NODE_ID_MAX })),
        ),
      ),
    );
    fc.assert(
      fc.property(near, ([a, b]) => {
        const lexicographic = a[0] !== b[0] ? Math.sign(a[0] - b[0]) : a[1] !== b[1] ? Math.sign(a[1] - b[1]) : Math.sign(a[2] - b[2]);
        const numeric = Math.sign(packTimestamp(...a) - packTimestamp(...b));
        expect(numeric).toBe(lexicographic);
      }),
      propertyOptions(),
    );
  });

  it('clock: packTimestamp throws on fields out of range', () => {
    expect(() => packTimestamp(-1, 0, 0)).toThrow(RangeError);
    expect(() => packTimestamp(PHYSICAL_MS_MAX + 1, 0, 0)).toThrow(RangeError);
    expect(() => packTimestamp(1.5, 0, 0)).toThrow(RangeError);
    expect(() => packTimestamp(0, LOGICAL_MAX + 1, 0)).toThrow(RangeError);
    expect(() => packTimestamp(0, -1, 0)).toThrow(RangeError);
    expect(() => packTimestamp(0, 0, NODE_ID_MAX + 1)).toThrow(/node id 16/);
    expect(() => packTimestamp(0, 0, -1)).toThrow(RangeError);
    expect(() => packTimestamp(0, 0, Number.NaN)).toThrow(RangeError);
    expect(packTimestamp(PHYSICAL_MS_MAX, LOGICAL_MAX, NODE_ID_MAX)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('clock: formatTimestamp prints unixMs.logical@node', () => {
    expect(formatTimestamp(0)).toBe('0');
    expect(formatTimestamp(packTimestamp(T0 - TIMESTAMP_EPOCH_UNIX_MS, 3, 9))).toBe(`${T0}.3@9`);
  });
});
