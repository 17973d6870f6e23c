/** `npm run bench -- <name>`: runs one benchmark suite, or all with no name. */

import { runCoreBench } from './core.ts';
import { runFailoverBench } from './failover.ts';
import { runReplicationBench } from './replication.ts';

const suites: Record<string, () => void | Promise<void>> = {
  api: async () => (await import('./api.ts')).runApiBench(),
  core: runCoreBench,
  replication: runReplicationBench,
  failover: runFailoverBench,
};

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !(name in suites));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; choose from: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}
for (const name of requested.length > 0 ? requested : Object.keys(suites)) await suites[name]!();
