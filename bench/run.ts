/** `npm run bench -- <name> [--only <part>]`: runs one benchmark suite, or all with no name.
 *  `--only` picks one part of a suite that has parts (replication: `catch-up` or `throughput`). */

import { parseArgs } from 'node:util';
import { runCoreBench } from './core.ts';
import { runFailoverBench } from './failover.ts';
import { runReplicationBench } from './replication.ts';

interface SuiteOptions {
  readonly only: string | undefined;
}

const suites: Record<string, (options: SuiteOptions) => void | Promise<void>> = {
  api: async () => (await import('./api.ts')).runApiBench(),
  core: runCoreBench,
  replication: (options) => runReplicationBench(options.only),
  failover: runFailoverBench,
};

let parsed: ReturnType<typeof parseArgs<{ options: { only: { type: 'string' } }; allowPositionals: true }>>;
try {
  parsed = parseArgs({ args: process.argv.slice(2), options: { only: { type: 'string' } }, allowPositionals: true, strict: true });
} catch (error) {
  console.error(`${(error as Error).message}\nusage: npm run bench -- [${Object.keys(suites).join('|')}] [--only <part>]`);
  process.exit(2);
}
const requested = parsed.positionals;
const unknown = requested.filter((name) => !(name in suites));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; choose from: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}
const only = parsed.values.only;
if (only !== undefined && !(requested.length === 1 && requested[0] === 'replication')) {
  console.error('--only applies to one suite with parts: npm run bench -- replication --only catch-up|throughput');
  process.exit(2);
}
for (const name of requested.length > 0 ? requested : Object.keys(suites)) await suites[name]!({ only });
