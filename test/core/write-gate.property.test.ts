/** Property tests of the write gate against DESIGN.md §2: random interleavings
 *  of submits, replication completions (successful or failed), and aborts,
 *  checked after every step against W1–W6 and a reference model. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ElementStore } from '../../src/core/element-store.ts';
import { diffStores } from '../../src/core/sync-diff.ts';
import type { JsonValue } from '../../src/core/value.ts';
import { plainValue } from '../../src/core/json-text.ts';
import { type ReplicationUnit, type WriteRequest, WriteGate } from '../../src/core/write-gate.ts';
import { propertyOptions } from '../support/property.ts';

interface Request extends WriteRequest {
  readonly id: number;
}

type Step =
  | { kind: 'submit'; key: number; ts: number; deleted: boolean }
  | { kind: 'complete'; pick: number; replicated: boolean; reachedSecondary: boolean }
  | { kind: 'abort' };

const KEYS = ['s/a/p/1', 's/a/p/2', 's/b/meta', 'node/x'];

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('submit' as const), key: fc.nat(KEYS.length - 1), ts: fc.integer({ min: 1, max: 40 }), deleted: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('complete' as const), pick: fc.nat(), replicated: fc.boolean(), reachedSecondary: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'abort' as const }) },
);

const limitsArbitrary = fc.record({
  queueLengthMax: fc.integer({ min: 1, max: 6 }),
  queuedMax: fc.integer({ min: 1, max: 12 }),
  groupSizeMax: fc.integer({ min: 1, max: 4 }),
});

/** Runs one history and checks every invariant after every step. */
function runHistory(
  steps: Step[],
  limits: { queueLengthMax: number; queuedMax: number; groupSizeMax: number },
  elementsMax: number,
  expectIdentical = false,
): void {
  const primary = new ElementStore({ elementsMax, digest: { leafBits: 4, fanoutBits: 2 } });
  const secondary = new ElementStore({ elementsMax, digest: { leafBits: 4, fanoutBits: 2 } });
  const gate = new WriteGate<Request>(primary, limits);
  const inFlight: ReplicationUnit<Request>[] = [];
  const submitted: Request[] = [];
  const answerCount = new Map<number, number>();
  /** Per key: the ts the primary store took, in order (W1). */
  const appliedTs = new Map<string, number[]>();
  /** Per key: value of each applied ts, for the model check. */
  const appliedValue = new Map<string, Map<number, JsonValue>>();
  let nextId = 0;

  const drain = (): void => {
    for (let unit = gate.pollUnit(); unit !== undefined; unit = gate.pollUnit()) {
      // One unit in flight per element: the secondary sees each element's units one at a time.
      expect(inFlight.some((other) => other.key === unit.key)).toBe(false);
      expect(unit.requests.length).toBeGreaterThan(0);
      expect(unit.requests.length).toBeLessThanOrEqual(limits.groupSizeMax);
      for (let i = 1; i < unit.requests.length; i++) expect(unit.requests[i]!.ts).toBeGreaterThan(unit.requests[i - 1]!.ts);
      expect(unit.ts).toBe(unit.requests[unit.requests.length - 1]!.ts);
      inFlight.push(unit);
    }
    for (let request = gate.pollAnswered(); request !== undefined; request = gate.pollAnswered()) {
      answerCount.set(request.id, (answerCount.get(request.id) ?? 0) + 1);
      const answer = request.answer!;
      if (answer.code === 'applied') {
        // W2: the secondary held the element at (at least) this ts before the answer left.
        expect(secondary.currentTs(request.key)).toBeGreaterThanOrEqual(request.ts);
        const history = appliedTs.get(request.key) ?? [];
        // W1: strictly increasing per element.
        if (history.length > 0) expect(request.ts).toBeGreaterThan(history[history.length - 1]!);
        history.push(request.ts);
        appliedTs.set(request.key, history);
        const values = appliedValue.get(request.key) ?? new Map<number, JsonValue>();
        values.set(request.ts, request.deleted ? null : plainValue(request.value));
        appliedValue.set(request.key, values);
      } else if (answer.code === 'stale') {
        // W5: stale names a ts at least as new as the request, one that was really applied.
        expect(answer.currentTs).toBeGreaterThanOrEqual(request.ts);
        expect(answer.currentTs).toBeLessThanOrEqual(primary.currentTs(request.key));
        expect(answer.currentTs === 0 || primary.get(request.key) !== undefined || appliedTs.get(request.key)?.includes(answer.currentTs)).toBe(true);
      }
    }
    // W3: the primary never holds state the secondary lacks.
    for (const element of primary.entries()) expect(secondary.currentTs(element.key)).toBeGreaterThanOrEqual(element.ts);
    expect(gate.inFlightCount).toBe(inFlight.length);
  };

  const complete = (index: number, replicated: boolean, reachedSecondary: boolean): void => {
    const [unit] = inFlight.splice(index, 1);
    if (replicated || reachedSecondary) secondary.apply(unit!.key, unit!.value, unit!.ts, unit!.deleted);
    // The secondary acknowledges only what it holds: a full secondary store fails the unit.
    const held = replicated && secondary.currentTs(unit!.key) >= unit!.ts;
    expect(gate.complete(unit!, held)).toBe(true);
    expect(gate.complete(unit!, held)).toBe(false); // a second completion changes nothing
  };

  for (const step of steps) {
    if (step.kind === 'submit') {
      const key = KEYS[step.key]!;
      const idle = !inFlight.some((unit) => unit.key === key) && gate.queueLength(key) === 0;
      const fresh = step.ts > primary.currentTs(key);
      const request: Request = { id: nextId++, key, value: { n: nextId }, deleted: step.deleted, ts: step.ts, seq: 0, answer: undefined };
      submitted.push(request);
      gate.submit(request);
      const before = inFlight.length;
      drain();
      // W4: an idle element's fresh request goes out at once, whatever other elements are doing.
      if (idle && fresh && request.answer === undefined) {
        expect(inFlight.length).toBe(before + 1);
        expect(inFlight[inFlight.length - 1]!.requests).toEqual([request]);
      }
    } else if (step.kind === 'complete') {
      if (inFlight.length > 0) complete(step.pick % inFlight.length, step.replicated, step.reachedSecondary);
      drain();
    } else {
      const orphans = inFlight.splice(0);
      gate.abortAll('test abort');
      drain();
      for (const unit of orphans) expect(gate.complete(unit, true)).toBe(false);
      expect(gate.busyElementCount).toBe(0);
    }
  }
  // Liveness: replicate everything still in flight; the gate must come to rest.
  for (let rounds = 0; inFlight.length > 0; rounds++) {
    expect(rounds).toBeLessThan(10_000);
    complete(0, true, true);
    drain();
  }
  // W6: every request answered exactly once.
  expect(gate.queuedCount).toBe(0);
  expect(gate.busyElementCount).toBe(0);
  for (const request of submitted) {
    expect(request.answer).toBeDefined();
    expect(answerCount.get(request.id)).toBe(1);
  }
  // Model: each element holds the value of its newest applied request.
  for (const [key, history] of appliedTs) {
    const newest = history[history.length - 1]!;
    const element = primary.get(key)!;
    expect(element.ts).toBe(newest);
    expect(element.value).toEqual(appliedValue.get(key)!.get(newest));
  }
  if (expectIdentical) {
    expect(diffStores(primary, secondary)).toEqual([]);
    expect(primary.digest.root()).toEqual(secondary.digest.root());
  }
}

describe('write gate properties', () => {
  it('write gate: W1-W6 hold for random interleavings of submits, completions, failures and aborts', () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary, { maxLength: 80 }), limitsArbitrary, fc.integer({ min: 1, max: 6 }), (steps, limits, elementsMax) => {
        runHistory(steps, limits, elementsMax);
      }),
      propertyOptions(),
    );
  });

  it('write gate: with generous limits and no failures, both stores end identical and equal to the model', () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary.filter((s) => s.kind !== 'abort'), { maxLength: 80 }), (steps) => {
        const noFailures = steps.map((s) => (s.kind === 'complete' ? { ...s, replicated: true } : s));
        runHistory(noFailures, { queueLengthMax: 1000, queuedMax: 1000, groupSizeMax: 1000 }, 100, true);
      }),
      propertyOptions(),
    );
  });
});
