/** `confstate` command line: the composition root, the only place that builds
 *  real clocks, sockets and timers. Subcommands arrive with their issues. */

const USAGE = `usage: confstate <command>

commands:
  start        run a primary and a secondary on this machine (not built yet)
  help         show this text
`;

/** Runs one command line; returns the process exit code. */
export function main(argv: readonly string[]): number {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    case 'start':
      if (rest.length > 0) {
        process.stderr.write(`confstate start takes no arguments, got: ${rest.join(' ')}\n`);
        return 2;
      }
      process.stderr.write(
        'confstate: the server is not built yet. Today confstate is its core library\n' +
          '(src/core: clock, element store, digest, write gate) with tests and benchmarks;\n' +
          'the replicated primary/secondary pair that `npm start` will run is the next\n' +
          'piece of work. Try `npm test` or `npm run bench -- core`.\n',
      );
      return 1;
    default:
      process.stderr.write(`confstate: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
