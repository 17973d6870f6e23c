/** The history checker finds each violation it claims to find, on small
 *  hand-made histories: a checker that never fails would prove nothing. */

import { describe, expect, it } from 'vitest';
import { type Holding, type Operation, type Read, checkHistory } from './history.ts';

function op(fields: Partial<Operation> & Pick<Operation, 'key' | 'ts'>): Operation {
  return { writer: 0, value: { ts: fields.ts }, invokedMs: 0, completedMs: 1, outcome: 'ok', node: 'n1', epoch: 1, ...fields };
}

function read(fields: Partial<Read> & Pick<Read, 'key' | 'ts'>): Read {
  return { value: { ts: fields.ts }, node: 'n1', epoch: 1, atMs: 0, ...fields };
}

const held = (entries: [string, Holding][]): Map<string, Holding> => new Map(entries);

describe('history checker', () => {
  it('checker: a consistent history passes: acknowledged updates held or overwritten, reads forward, one node per epoch', () => {
    const history = [op({ key: 'k', ts: 10 }), op({ key: 'k', ts: 20, node: 'n2', epoch: 2 }), op({ key: 'j', ts: 5, outcome: 'unknown' })];
    const reads = [read({ key: 'k', ts: 10 }), read({ key: 'k', ts: 20, node: 'n2', epoch: 2 })];
    expect(checkHistory(history, reads, held([['k', { ts: 20, value: { ts: 20 } }], ['j', { ts: 5, value: { ts: 5 } }]]))).toEqual([]);
  });

  it('checker: an acknowledged update missing, or held at its ts with another value, is lost', () => {
    const history = [op({ key: 'k', ts: 10 }), op({ key: 'j', ts: 7 })];
    const violations = checkHistory(history, [], held([['k', { ts: 9, value: { ts: 9 } }], ['j', { ts: 7, value: 'other' }]]));
    expect(violations.map((v) => v.kind)).toEqual(['lost', 'lost', 'phantom', 'phantom']);
    expect(violations[0]!.message).toContain('k@10');
  });

  it('checker: an update nobody acknowledged may be missing; a held ts nobody invoked is a phantom', () => {
    const history = [op({ key: 'k', ts: 10, outcome: 'unknown' }), op({ key: 'k', ts: 11, outcome: 'stale' })];
    expect(checkHistory(history, [], held([['k', undefined]]))).toEqual([]);
    expect(checkHistory(history, [], held([['k', { ts: 12, value: { ts: 12 } }]])).map((v) => v.kind)).toEqual(['phantom']);
  });

  it('checker: an element read at a lower ts after a higher one went backwards', () => {
    const history = [op({ key: 'k', ts: 10 }), op({ key: 'k', ts: 20 })];
    const reads = [read({ key: 'k', ts: 20 }), read({ key: 'k', ts: 10, node: 'n2', epoch: 2 })];
    expect(checkHistory(history, reads, held([['k', { ts: 20, value: { ts: 20 } }]])).map((v) => v.kind)).toEqual(['backwards']);
  });

  it('checker: two nodes acknowledging writes in one epoch is split brain; an unanswered invocation is reported', () => {
    const history = [op({ key: 'k', ts: 10, node: 'n1' }), op({ key: 'j', ts: 11, node: 'n2' }), op({ key: 'i', ts: 12, outcome: 'pending' })];
    const holding = held([['k', { ts: 10, value: { ts: 10 } }], ['j', { ts: 11, value: { ts: 11 } }]]);
    expect(checkHistory(history, [], holding).map((v) => v.kind)).toEqual(['pending', 'split_brain']);
  });
});
