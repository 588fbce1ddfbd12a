import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { createLogger, isLogLevel } from '../util/log.js';
import { UsageError } from '../driver/usage-error.js';
import { adopt } from './adopt.js';
import { CSI_POWERFLEX_DRIVER } from './manifest.js';
import { parsePvs } from './pv-input.js';

interface AdoptFlags {
  config: string;
  pvs: string;
  out?: string;
  apply?: boolean;
  kubeconfig?: string;
  fromDriver: string;
  driverName: string;
  storageClass?: string;
  logLevel: string;
}

/** `ferry adopt`: static PVs that Ferry serves, for volumes csi-powerflex made (see src/adopt/adopt.ts, docs/drop-in.md). */
export function adoptCommand(): Command {
  return new Command('adopt')
    .description("write static PersistentVolumes that Ferry serves for csi-powerflex's volumes (no data is copied)")
    .requiredOption('--config <file>', "Ferry's configuration (its PowerFlex backends, or csiPowerflexArrays naming csi-powerflex's Secret)")
    .requiredOption('--pvs <file>', 'the PVs to adopt: `kubectl get pv -o yaml` (or json) output; "-" reads standard input')
    .option('--out <dir>', 'write one manifest per PV here (default: all to standard output)')
    .option('--apply', 'apply the manifests with kubectl (delete the old PVs, reclaim policy Retain, first)')
    .option('--kubeconfig <file>', 'kubeconfig for --apply')
    .addOption(new Option('--from-driver <name>', "the old driver's name").default(CSI_POWERFLEX_DRIVER))
    .addOption(new Option('--driver-name <name>', "Ferry's CSI driver name").default('ferry.csi.io'))
    .option('--storage-class <name>', "the new PVs' StorageClass (default: the old PV's)")
    .addOption(new Option('--log-level <level>', 'logs go to standard error').default('info'))
    .action(async (flags: AdoptFlags) => {
      if (!isLogLevel(flags.logLevel)) throw new UsageError(`--log-level: "${flags.logLevel}" is not a log level`);
      const log = createLogger(flags.logLevel, 'ferry-adopt', 'stderr');
      const config = await loadConfig(flags.config);
      const text = flags.pvs === '-' ? await readStdin() : await readFile(flags.pvs, 'utf8');
      await adopt(parsePvs(text, flags.pvs), config, {
        fromDriver: flags.fromDriver,
        driverName: flags.driverName,
        storageClass: flags.storageClass,
        outDir: flags.out,
        apply: flags.apply === true,
        kubeconfig: flags.kubeconfig,
      }, log);
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
