import { Command, Option } from 'commander';
import { collectHost, validatePoolFlags, type RawPoolFlags } from './options.js';

/**
 * `ferry pool`: a local block pool that speaks the PowerFlex/ScaleIO REST gateway API, backed by sparse files
 * and loop devices. Every flag can also come from FERRY_POOL_<FLAG> (e.g. FERRY_POOL_DATA_DIR).
 */
export function poolCommand(): Command {
  const env = (flag: string): string => `FERRY_POOL_${flag.toUpperCase().replace(/-/g, '_')}`;
  const option = (flags: string, description: string, name: string): Option => new Option(flags, description).env(env(name));
  return new Command('pool')
    .description('serve a local block pool that speaks the PowerFlex (ScaleIO) REST gateway API')
    .addOption(option('--listen <host:port>', 'address to serve on (port 0: any free port)', 'listen').default('127.0.0.1:8443'))
    .addOption(option('--data-dir <dir>', 'where volumes, state and the TLS certificate live', 'data-dir').default('/var/lib/ferry/pool'))
    .addOption(option('--capacity <size>', 'pool capacity, e.g. 200Gi', 'capacity').default('200Gi'))
    .addOption(option('--username <name>', 'gateway user', 'username').default('admin'))
    .addOption(option('--password <password>', 'gateway password (default: generated and printed at start)', 'password'))
    .addOption(option('--password-file <file>', 'read the gateway password from a file', 'password-file'))
    .addOption(option('--plain-http', 'serve plain HTTP instead of HTTPS with a self-signed certificate', 'plain-http'))
    .addOption(
      option('--host <name=guid>', 'declare a host (SDC); repeatable (the variable takes a comma-separated list)', 'host')
        .argParser(collectHost)
        .default([]),
    )
    .addOption(option('--token-idle-timeout <duration>', 'sessions end after this long unused (e.g. 10m, 30s)', 'token-idle-timeout').default('10m'))
    .addOption(option('--system-id <id>', 'system id, 16 hex characters (default: generated once, then kept)', 'system-id'))
    .addOption(option('--system-name <name>', 'system name, what clients configured with a system name look for (default: none)', 'system-name'))
    .addOption(option('--protection-domain <name>', 'protection domain name', 'protection-domain').default('pd1'))
    .addOption(option('--storage-pool <name>', 'storage pool name', 'storage-pool').default('pool1'))
    .addOption(option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'log-level').default('info'))
    .action(async (flags: RawPoolFlags) => {
      // Loaded when the pool runs: `ferry driver` does not carry the pool's server in its memory.
      const { runPool } = await import('./run.js');
      await runPool(await validatePoolFlags(flags));
    });
}
