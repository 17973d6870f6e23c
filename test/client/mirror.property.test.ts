/** Properties of the SDK's mirror: whatever the network and the servers do —
 *  deliveries interleaved with writes from elsewhere, old deltas replayed,
 *  deltas lost (gaps), connections cut, time passing, the primary failing
 *  over — once faults stop and the client settles, its mirror and view equal
 *  the cluster's state, every command has a definite answer, and no command
 *  was applied twice. First on the sans-IO core against FakeNodes in memory
 *  (deterministic, the full case count), then end to end over WebSockets. */

import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionMirror } from '../../src/conference/mirror.ts';
import { propertyOptions, numRuns } from '../support/property.ts';
import { FakeCluster } from '../support/fake-conference-server.ts';
import { SESSION, SdkSimulation, stepArbitrary } from '../support/sdk-simulation.ts';
import { afterTest, closeAll, hostClient, mirrorsServer, serverView, sorted, until } from '../support/sdk-harness.ts';

afterEach(closeAll);

/** What must hold after settling, as one comparable record. */
function outcomeOf(simulation: SdkSimulation): Record<string, unknown> {
  const stream = simulation.core.stream(SESSION)!;
  const executedTwice = [...simulation.conference.executions].filter(([, count]) => count > 1).map(([id]) => id);
  const unanswered = [...simulation.outcomes].filter(([, outcome]) => outcome === undefined).map(([id]) => id);
  const okNotExecutedOnce = [...simulation.outcomes].filter(([id, o]) => o?.ok === true && simulation.conference.executions.get(id) !== 1).map(([id]) => id);
  // What the application was told: each (key, ts, deleted) once, and replayed from nothing it rebuilds the mirror.
  const toldKeys = simulation.told.map((c) => `${c.key}@${c.ts}${c.value === null ? ' deleted' : ''}`);
  const toldTwice = toldKeys.filter((key, i) => toldKeys.indexOf(key) !== i);
  const replay = new SessionMirror(SESSION);
  for (const change of simulation.told) replay.apply(change);
  return {
    elements: sorted(stream.mirror.elements()),
    view: stream.view,
    position: stream.position,
    executedTwice,
    unanswered,
    okNotExecutedOnce,
    toldTwice,
    toldRebuilds: JSON.stringify(sorted(replay.elements())) === JSON.stringify(sorted(stream.mirror.elements())),
  };
}

function expectedOf(simulation: SdkSimulation): Record<string, unknown> {
  const node = simulation.connectedNode!;
  return {
    elements: sorted(simulation.conference.sessionElements(SESSION)),
    view: serverView(simulation.conference, SESSION),
    position: { stream: node.stream, seq: node.seqOf(SESSION) },
    executedTwice: [],
    unanswered: [],
    okNotExecutedOnce: [],
    toldTwice: [],
    toldRebuilds: true,
  };
}

/** Schedules of 10 to 200 steps (size 'max': the default size would keep them under ~10), half of them with a failover. */
const schedule = fc.boolean().chain((withFailover) => fc.array(stepArbitrary(withFailover), { minLength: 10, maxLength: 200, size: 'max' }));

describe('sdk mirror properties', () => {
  it('sdk property: after any schedule of deliveries, replays, lost deltas, cuts, writes, commands and a failover, the settled mirror equals the cluster state, every change was told once, and every command was applied at most once', () => {
    fc.assert(
      fc.property(schedule, fc.nat(), fc.integer({ min: 1, max: 16 }), (steps, seed, historyMax) => {
        const simulation = new SdkSimulation(seed, historyMax);
        for (const step of steps) simulation.run(step);
        // A lost delta shows as a gap only when a later one arrives: the world goes on with one more change.
        simulation.run({ kind: 'write', updates: [{ key: `s/${SESSION}/engine`, value: { engine: 'after-the-faults' } }] });
        expect(simulation.settle(), 'the client settles').toBe(true);
        expect(outcomeOf(simulation)).toEqual(expectedOf(simulation));
      }),
      propertyOptions(),
    );
  });

  it('sdk property: over WebSockets, drops, gaps, duplicates and held answers end with the client holding exactly the server state, commands applied once', async () => {
    const runs = Math.max(10, Math.floor(numRuns / 40));
    const fault = fc.oneof(
      fc.constant('drop' as const),
      fc.constant('gap' as const),
      fc.constant('duplicate' as const),
      fc.constant('hold' as const),
      fc.constant('failover' as const),
      fc.record({ write: fc.constantFrom('bo', 'cy'), raised: fc.boolean() }),
      fc.constantFrom('raise_hand' as const, 'lower_hand' as const, 'lock' as const, 'unlock' as const),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fault, { minLength: 1, maxLength: 12 }), async (faults) => {
        const cluster = await FakeCluster.start({ historyMax: 3 });
        afterTest(() => cluster.stop());
        const client = hostClient(cluster);
        const session = client.session(SESSION);
        await session.create({ settings: { lobby: false } });
        await session.join('Ada');
        const commands: Promise<unknown>[] = [];
        let failedOver = false;
        for (const step of faults) {
          const node = cluster.primary.node;
          if (step === 'drop') cluster.primary.dropConnections();
          else if (step === 'gap') node.faults.dropDeltas++;
          else if (step === 'duplicate') node.faults.duplicateDeltas++;
          else if (step === 'hold') node.faults.holdResults = !node.faults.holdResults;
          else if (step === 'failover' && !failedOver) {
            failedOver = true;
            await cluster.failover();
          } else if (typeof step === 'object') {
            cluster.conference.write(SESSION, [{ key: `s/${SESSION}/hand/${step.write}`, value: step.raised ? { raisedAtMs: 1 } : null }]);
          } else if (typeof step === 'string' && step !== 'failover') {
            commands.push(session.send({ type: step }).catch((error: unknown) => error));
          }
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        // Faults stop; held answers are lost with the connection; one more change shows any gap.
        for (const server of [cluster.primary, cluster.secondary]) Object.assign(server.node.faults, { dropDeltas: 0, duplicateDeltas: 0, holdResults: false });
        cluster.primary.dropConnections();
        cluster.conference.write(SESSION, [{ key: `s/${SESSION}/engine`, value: { engine: 'after-the-faults' } }]);
        const outcomes = await Promise.all(commands);
        await until(() => session.state === 'live' && mirrorsServer(session.mirror, cluster.conference, SESSION), 'the mirror to settle');

        expect(outcomes.filter((o) => o instanceof Error)).toEqual([]);
        expect([...cluster.conference.executions.values()].every((count) => count === 1)).toBe(true);
        expect(session.view).toEqual(serverView(cluster.conference, SESSION));
        // A reconnect cut short moves on to the next URL, and a secondary serves reads: either node may be the one.
        const node = [cluster.primary, cluster.secondary].find((server) => server.url === client.status.url)!.node;
        expect(session.position).toEqual({ stream: node.stream, seq: node.seqOf(SESSION) });
        await closeAll();
      }),
      { numRuns: runs },
    );
  });
});
