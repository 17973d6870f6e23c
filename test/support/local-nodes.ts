/** LocalNodes over the in-memory pair harness: the conference server's view
 *  of the pair's primary and secondary, as a Replica would give them. */

import { LocalNode, type NodeHandle } from '../../src/server/local-node.ts';
import type { Pair } from './pair-harness.ts';

/** The pair's state machines as the NodeHandles a Replica would give. */
export function pairHandles(pair: Pair): { primary: NodeHandle; secondary: NodeHandle } {
  const primary: NodeHandle = {
    store: pair.primaryStore,
    role: 'primary',
    epoch: 1,
    serving: true,
    inner: pair.primary,
    options: pair.primary.options,
    submitLocal: (key, value, onAnswer, nowMs) => pair.primary.submitLocal(key, value, onAnswer, nowMs),
  };
  const secondary: NodeHandle = {
    ...primary,
    store: pair.secondaryStore,
    role: 'secondary',
    serving: false,
    inner: pair.secondary,
    options: { nodeId: pair.secondary.options.nodeId, minReplicas: 1 },
    submitLocal: (_key, _value, onAnswer) => (onAnswer('not_primary', 0, 'this node is the secondary'), 0),
  };
  return { primary, secondary };
}

/**
 * LocalNodes for both sides; the primary's API is at `primaryUrl`, the
 * secondary's at `secondaryUrl`. Like NodeTransport's drain, `pair.run` first
 * runs what the nodes were given to do before sending (LocalNode.runBeforeSend).
 */
export function pairLocalNodes(pair: Pair, primaryUrl: string | null = null, secondaryUrl: string | null = null): { primary: LocalNode; secondary: LocalNode } {
  const common = { nowMs: () => pair.nowMs, wake: () => undefined };
  const { primary, secondary } = pairHandles(pair);
  const nodes = {
    primary: new LocalNode(primary, { ...common, selfUrl: primaryUrl, peerUrl: secondaryUrl }),
    secondary: new LocalNode(secondary, { ...common, selfUrl: secondaryUrl, peerUrl: primaryUrl }),
  };
  const run = pair.run.bind(pair);
  pair.run = (steps?: number): void => {
    nodes.primary.runBeforeSend();
    nodes.secondary.runBeforeSend();
    run(steps);
  };
  return nodes;
}
