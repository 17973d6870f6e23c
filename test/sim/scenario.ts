/** One simulator run: a chaos phase with seeded faults, a healing phase, then
 *  the checkers (FoundationDB/Jepsen style: correctness under faults, then
 *  liveness once the faults stop). Returns the violations; none means the
 *  seed passed. */

import { plainValue } from '../../src/core/json-text.ts';
import type { ReplicationTimings } from '../../src/replication/config.ts';
import type { Primary } from '../../src/replication/primary.ts';
import type { Secondary } from '../../src/replication/secondary.ts';
import { NODE_NAMES, type NodeName, type Violation, World } from './world.ts';

export interface ScenarioOptions {
  readonly seed: number;
  /** Simulated length of the chaos phase. */
  readonly chaosMs?: number;
  /** Stores must converge within this long after the faults stop. */
  readonly convergeWithinMs?: number;
  readonly clients?: number;
  readonly keys?: number;
  readonly timings?: Partial<ReplicationTimings>;
}

export interface ScenarioResult {
  readonly seed: number;
  readonly violations: readonly Violation[];
  readonly acknowledged: number;
  readonly failovers: number;
  /** Elements the primary at the end removed by tombstone collection (rounds and repairs) in its current run. */
  readonly collected: number;
  /** Events the world processed: the run's work, for tuning. */
  readonly events: number;
  readonly faults: readonly string[];
  readonly log: readonly string[];
}

/** The pair holds everything with both nodes up: one node primary and serving, the other in sync with it. */
export function pairHealthy(world: World): boolean {
  const [a, b] = [world.nodes.a.replica, world.nodes.b.replica];
  if (a === undefined || b === undefined) return false;
  const primary = a.role === 'primary' ? a : b;
  const secondary = primary === a ? b : a;
  return (
    primary.role === 'primary' &&
    secondary.role === 'secondary' &&
    primary.serving &&
    (primary.inner as Primary).secondaryState === 'streaming' &&
    (secondary.inner as Secondary).state === 'in_sync' &&
    primary.epoch === secondary.epoch
  );
}

export function runScenario(options: ScenarioOptions): ScenarioResult {
  const world = new World({ seed: options.seed, minReplicas: 1, clients: options.clients ?? 3, keys: options.keys ?? 12, ...(options.timings ? { timings: options.timings } : {}) });
  const random = world.random;
  const faults: string[] = [];
  const chaosMs = options.chaosMs ?? 10_000;
  const fault = (text: string): void => {
    faults.push(`${world.nowMs.toFixed(0)}ms ${text}`);
    world.note(`FAULT ${text}`);
  };
  world.runUntil(1_500);
  const down = new Map<NodeName, number>();
  const heals: { atMs: number; cut: string }[] = [];
  let failovers = 0;
  let epochSeen = 1;
  while (world.nowMs < chaosMs) {
    world.runUntil(world.nowMs + 50 + random.below(400));
    for (const [name, atMs] of [...down]) {
      if (world.nowMs >= atMs) {
        world.startNode(name);
        down.delete(name);
        fault(`restart ${name}`);
      }
    }
    for (const heal of heals.splice(0)) {
      if (world.nowMs >= heal.atMs) world.cut.delete(heal.cut);
      else heals.push(heal);
    }
    const maxEpoch = Math.max(...NODE_NAMES.map((n) => world.nodes[n].replica?.epoch ?? 0));
    if (maxEpoch > epochSeen) {
      failovers += maxEpoch - epochSeen;
      epochSeen = maxEpoch;
    }
    const roll = random.below(100);
    if (roll < 8 && down.size === 0 && pairHealthy(world)) {
      // One failure at a time: an in-memory pair survives the loss of either node, not of both.
      const name = NODE_NAMES[random.below(2)]!;
      world.crashNode(name);
      down.set(name, world.nowMs + 100 + random.below(3000));
      fault(`kill -9 ${name}`);
    } else if (roll < 14 && pairHealthy(world)) {
      const oneWay = random.below(2) === 0;
      const [from, to] = random.below(2) === 0 ? ['a', 'b'] : ['b', 'a'];
      const healAt = world.nowMs + 50 + random.below(3000);
      for (const cut of oneWay ? [`${from}>${to}`] : [`${from}>${to}`, `${to}>${from}`]) {
        world.cut.add(cut);
        heals.push({ atMs: healAt, cut });
      }
      fault(`partition ${oneWay ? `${from}→${to}` : `${from}↔${to}`} for ${(healAt - world.nowMs).toFixed(0)} ms`);
    } else if (roll < 18) {
      const client = `c${random.below(world.clients.length)}`;
      const node = NODE_NAMES[random.below(2)]!;
      const cut = `${client}>${node}`;
      world.cut.add(cut);
      heals.push({ atMs: world.nowMs + 100 + random.below(2000), cut });
      fault(`cut ${client}→${node}`);
    } else if (roll < 22) {
      const name = NODE_NAMES[random.below(2)]!;
      const skew = random.below(4001) - 2000;
      world.nodes[name].skewMs = skew;
      fault(`clock of ${name} jumps to ${skew} ms skew`);
    }
  }

  // Heal: every cut gone, every node up; clients go on for a while, then stop.
  world.cut.clear();
  for (const name of down.keys()) world.startNode(name);
  fault('heal everything');
  world.runUntil(world.nowMs + 3_000);
  world.clientsActive = false;
  const convergeBy = world.nowMs + (options.convergeWithinMs ?? 15_000);
  while (world.nowMs < convergeBy && !(pairHealthy(world) && converged(world))) world.runUntil(world.nowMs + 100);

  const violations = [...world.violations, ...checkConvergence(world), ...checkAcknowledged(world)];
  return {
    seed: options.seed,
    violations,
    acknowledged: world.history.filter((op) => op.outcome === 'ok').length,
    failovers,
    collected: NODE_NAMES.reduce((n, name) => n + (world.nodes[name].replica?.role === 'primary' ? world.nodes[name].store.collectedCount : 0), 0),
    events: world.events,
    faults,
    log: world.log,
  };
}

function converged(world: World): boolean {
  const [a, b] = [world.nodes.a, world.nodes.b];
  if (a.replica === undefined || b.replica === undefined) return false;
  const [ra, rb] = [a.store.digest.root(), b.store.digest.root()];
  const primary = a.replica.role === 'primary' ? a.replica : b.replica;
  const gate = (primary.inner as Primary).gate;
  // The same elements, and the same bound for writes to missing keys (or the two would judge writes apart).
  return ra[0] === rb[0] && ra[1] === rb[1] && a.store.size === b.store.size && a.store.collectedTsMax === b.store.collectedTsMax && gate.queuedCount === 0 && gate.inFlightCount === 0;
}

function checkConvergence(world: World): Violation[] {
  if (!pairHealthy(world)) {
    const roles = NODE_NAMES.map((n) => {
      const r = world.nodes[n].replica;
      return `${n}=${r === undefined ? 'down' : `${r.role}@${r.epoch}${r.role === 'secondary' ? `/${(r.inner as Secondary).state}` : `/${(r.inner as Primary).secondaryState}`}`}`;
    });
    return [{ kind: 'liveness', message: `the pair did not become healthy after healing: ${roles.join(' ')}` }];
  }
  if (!converged(world)) return [{ kind: 'convergence', message: 'the stores differ (digest root, size or collectedTsMax) or the write gate is not empty after healing' }];
  return [];
}

/**
 * Every acknowledged update is on the surviving primary: at its ts with its value (a delete:
 * as a tombstone), or overwritten by a newer ts. A key no longer held counts as deleted and
 * collected: that is right for an acknowledged delete, and for a write only if some delete of
 * the key newer than it was sent (its outcome may be unknown) and the collected bound covers
 * the write, so no older write can bring it back.
 */
function checkAcknowledged(world: World): Violation[] {
  const primaryName = NODE_NAMES.find((n) => world.nodes[n].replica?.role === 'primary');
  if (primaryName === undefined) return [{ kind: 'lost', message: 'no primary at the end to check acknowledged updates against' }];
  const store = world.nodes[primaryName].store;
  const newestDelete = new Map<string, number>();
  for (const op of world.history) if (op.deleted && op.ts > (newestDelete.get(op.key) ?? 0)) newestDelete.set(op.key, op.ts);
  const out: Violation[] = [];
  for (const op of world.history) {
    if (op.outcome !== 'ok') continue;
    const held = store.get(op.key);
    const what = `acknowledged ${op.deleted ? 'delete' : 'update'} ${op.key}@${op.ts} (client ${op.client}, by ${op.node} at epoch ${op.epoch})`;
    if (held === undefined) {
      const collectedOk = store.collectedTsMax >= op.ts && (op.deleted || (newestDelete.get(op.key) ?? 0) > op.ts);
      if (!collectedOk) out.push({ kind: 'lost', message: `${what} is missing: primary ${primaryName} holds nothing (collectedTsMax ${store.collectedTsMax})` });
    } else if (held.ts < op.ts) {
      out.push({ kind: 'lost', message: `${what} is missing: primary ${primaryName} holds ts ${held.ts}` });
    } else if (held.ts === op.ts && (held.deleted !== op.deleted || (!op.deleted && JSON.stringify(plainValue(held.storedValue)) !== JSON.stringify(op.value)))) {
      out.push({ kind: 'lost', message: `${what} holds ${held.deleted ? 'a tombstone' : JSON.stringify(plainValue(held.storedValue))} at that ts` });
    }
    if (out.length >= 10) break;
  }
  return out;
}
