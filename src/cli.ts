#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from './config/load.js';
import { validateDriverFlags, UsageError, type RawDriverFlags } from './driver/options.js';
import { runDriver } from './driver/run.js';
import { adoptCommand } from './adopt/command.js';
import { demoCommand } from './demo/command.js';
import { poolCommand } from './pool/command.js';
import { VERSION } from './version.js';

/** Exit status for a configuration or usage problem: the operator must change something before a retry helps. */
const EXIT_USAGE = 2;

function driverCommand(): Command {
  return new Command('driver')
    .description('serve the CSI Identity, Controller and Node services')
    .addOption(new Option('--endpoint <endpoint>', 'socket path, unix:///path or tcp://host:port').env('FERRY_ENDPOINT').default('unix:///csi/csi.sock'))
    .addOption(new Option('--mode <mode>', 'which services to serve').choices(['controller', 'node', 'all']).env('FERRY_MODE').default('all'))
    .addOption(new Option('--node-id <id>', 'this node\'s id (default: the host name)').env('FERRY_NODE_ID'))
    .addOption(new Option('--config <file>', 'YAML configuration file').env('FERRY_CONFIG'))
    .addOption(new Option('--driver-name <name>', 'CSI driver name').env('FERRY_DRIVER_NAME').default('ferry.csi.io'))
    .addOption(new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent').env('FERRY_LOG_LEVEL').default('info'))
    .addOption(new Option('--metrics-address <host:port>', 'serve Prometheus metrics at http://host:port/metrics').env('FERRY_METRICS_ADDRESS'))
    .addOption(
      new Option('--shutdown-grace-seconds <seconds>', 'how long calls in flight may run on after SIGTERM').env('FERRY_SHUTDOWN_GRACE_SECONDS').default('25'),
    )
    .addOption(new Option('--kubernetes <mode>', 'talk to the Kubernetes API: auto (in a pod or with --kubeconfig), on, off').env('FERRY_KUBERNETES').default('auto'))
    .addOption(new Option('--kubeconfig <file>', 'kubeconfig file (default: the pod\'s service account)').env('FERRY_KUBECONFIG'))
    .addOption(new Option('--namespace <namespace>', 'namespace of the heartbeat and leader-election Leases').env('POD_NAMESPACE').default('kube-system'))
    .addOption(new Option('--node-name <name>', 'the Kubernetes Node this node plugin runs on').env('NODE_NAME'))
    .addOption(new Option('--heartbeat-interval-seconds <s>', 'node plugin: how often it renews its heartbeat Lease').env('FERRY_HEARTBEAT_INTERVAL_SECONDS').default('2'))
    .addOption(
      new Option('--heartbeat-duration-seconds <s>', 'node plugin: how long a heartbeat stands; past it the node is suspect').env('FERRY_HEARTBEAT_DURATION_SECONDS').default('8'),
    )
    .addOption(new Option('--failover <mode>', 'controller: the failover controller: off, dry-run or on').env('FERRY_FAILOVER').default('off'))
    .addOption(new Option('--failover-interval-seconds <s>', 'controller: how often the failover controller looks at the nodes').env('FERRY_FAILOVER_INTERVAL_SECONDS').default('2'))
    .addOption(new Option('--leader-lease-seconds <s>', 'controller: the failover controller\'s leader Lease duration').env('FERRY_LEADER_LEASE_SECONDS').default('15'))
    .addOption(new Option('--leader-renew-deadline-seconds <s>', 'controller: a leader that has not renewed within this gives up').env('FERRY_LEADER_RENEW_DEADLINE_SECONDS').default('10'))
    .addOption(new Option('--leader-retry-period-seconds <s>', 'controller: how often candidates and the leader try the Lease').env('FERRY_LEADER_RETRY_PERIOD_SECONDS').default('2'))
    .action(async (flags: RawDriverFlags) => {
      await runDriver(validateDriverFlags(flags));
    });
}

async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('ferry')
    .description('Ferry: storage for stateful containers that outlives the host, as a Kubernetes CSI driver')
    .version(VERSION, '-v, --version')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });
  program.addCommand(driverCommand().exitOverride());
  program.addCommand(poolCommand().exitOverride());
  program.addCommand(demoCommand().exitOverride());
  program.addCommand(adoptCommand().exitOverride());
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; real usage errors become 2.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`ferry: ${err.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`ferry: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`ferry: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
