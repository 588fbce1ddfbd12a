import { Command, InvalidArgumentError, Option } from 'commander';
import { preflightProblems } from '../harness/preflight.js';
import { MiB } from '../harness/volumes.js';

/**
 * A failed demo. It has printed what failed already; the CLI prints this one line (its stack is the message) and
 * exits 1.
 */
export class DemoFailed extends Error {
  override readonly name = 'DemoFailed';

  constructor(message: string) {
    super(message);
    this.stack = message;
  }
}

interface DemoFlags {
  keep?: boolean;
  dataDir?: string;
  verbose?: boolean;
  plainHttp?: boolean;
  aofSize: number;
}

function parseMiB(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new InvalidArgumentError('a whole number of MiB from 1 to 1024');
  return n;
}

/**
 * `ferry demo`: the story of the README on the embedded default, in one command. Starts a `ferry pool`, a controller
 * and two node plugins as child processes, drives them over real gRPC as a CO would, checks the data after every
 * move, and tears everything down again. Exit status 0 only when every check held.
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('run a Redis-like volume through create, attach, move to another node, snapshot and restore, on a local ferry pool (root)')
    .addOption(new Option('--keep', 'after the checks, leave the pool, the drivers and the volumes up until Ctrl-C'))
    .addOption(new Option('--data-dir <dir>', 'a new or empty directory for everything (default: a temporary one, removed afterwards)'))
    .addOption(new Option('--verbose', "copy the child processes' JSON logs to stderr (otherwise they go to <data-dir>/logs)"))
    .addOption(new Option('--plain-http', 'the pool serves plain HTTP (default: HTTPS with its own CA)'))
    .addOption(new Option('--aof-size <MiB>', 'size of the append-only file Redis writes').argParser(parseMiB).default(4))
    .action(async (flags: DemoFlags) => {
      const tls = flags.plainHttp !== true;
      const problems = await preflightProblems('ferry demo', { tls });
      if (problems.length > 0) throw new DemoFailed(problems.join('; '));

      // Ctrl-C (or SIGTERM): finish the step in progress, then tear down. A second one gives up at once.
      const interrupt = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => {
        if (!interrupt.signal.aborted) {
          process.stderr.write(`ferry demo: ${signal}: stopping after the step in progress, then tearing down (${signal} again to quit at once)\n`);
          interrupt.abort();
          return;
        }
        process.stderr.write(`ferry demo: ${signal} again: killing the child processes; mounts and loop devices may be left behind\n`);
        process.exit(130);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        // Loaded when the demo runs, not by every `ferry` command (the driver's memory).
        const { runDemo } = await import('./story.js');
        const result = await runDemo({
          dataDir: flags.dataDir,
          keep: flags.keep === true,
          verbose: flags.verbose === true,
          tls,
          aofBytes: flags.aofSize * MiB,
          write: (line) => process.stdout.write(`${line}\n`),
          signal: interrupt.signal,
        });
        if (!result.ok) throw new DemoFailed(`demo failed: ${result.failures[0] ?? 'see above'}`);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
