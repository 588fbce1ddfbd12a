import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec } from '../../../src/util/exec.js';
import { FerryCluster } from '../ferry-cluster.js';
import { KUBECTL } from '../kubectl.js';
import { knownSkipsFor, skipExpression } from './known-skips.js';
import { formatSummary, summarise, type SuiteReport } from './report.js';

/**
 * `npm run e2e:suite`: Kubernetes' own external storage suite (v1.36.3's External.Storage specs, built by
 * build-tools.sh suite) against Ferry on the e2e cluster, once per test-driver file (block, then NFS), and a summary:
 * passed / failed / skipped per driver, each skip with the reason the spec gave, and the wall time.
 *
 *   node --import ./test/e2e/ts-loader.mjs test/e2e/suite/run.ts [--driver=block|nfs] [--focus=REGEX]
 *
 * FERRY_SUITE_PROCS: ginkgo processes (default 3: specs mostly wait on pods and mounts, two cores keep three busy).
 * Logs and the JSON reports stay in /tmp/ferry-e2e-suite/<time>/ (the cluster's own run directory goes at teardown).
 */
const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..', '..');
const DRIVERS = { block: 'ferry-block.yaml', nfs: 'ferry-nfs.yaml' } as const;
type DriverName = keyof typeof DRIVERS;
/**
 * The block definition's volume-limit specs fill a node to this many volumes and expect the next pod to wait. High
 * enough for parallel specs (a group snapshot spec holds six volumes on a node; at 10 four of them starved each other).
 */
const MAX_VOLUMES_PER_NODE = 24;

const log = (m: string): void => {
  process.stderr.write(`[e2e-suite ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
};

function option(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

async function buildSuite(): Promise<string> {
  const { stdout } = await exec('bash', [path.join(REPO, 'test/e2e/build-tools.sh'), 'suite'], { timeoutMs: 3 * 3600_000 });
  await exec('bash', [path.join(REPO, 'test/e2e/images.sh'), 'suite'], { timeoutMs: 3600_000 });
  return stdout.trim().split('\n').pop() ?? '';
}

let running: ReturnType<typeof spawn> | undefined;
// Ctrl-C or SIGTERM: ginkgo is interrupted (it runs the specs' cleanup and writes its report), then the cluster goes.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: interrupting the suite, then tearing the cluster down`);
    running?.kill('SIGINT');
  });
}

/** Runs ginkgo over the suite binary with one driver; output to a log file (it runs to megabytes). */
function runGinkgo(bin: string, args: string[], logFile: string): Promise<number | null> {
  const fd = openSync(logFile, 'w');
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(bin, 'ginkgo'), args, {
      stdio: ['ignore', fd, fd],
      // The framework runs kubectl for some specs (and to log the cluster's version).
      env: { ...process.env, PATH: `${path.dirname(KUBECTL)}:${process.env.PATH ?? ''}` },
    });
    running = child;
    child.once('error', reject);
    child.once('exit', (code) => {
      running = undefined;
      closeSync(fd);
      resolve(code);
    });
  });
}

async function main(): Promise<number> {
  const started = Date.now();
  const chosen = option('driver');
  if (chosen !== undefined && !(chosen in DRIVERS)) throw new Error(`--driver must be one of ${Object.keys(DRIVERS).join(', ')}`);
  const drivers = (chosen ? [chosen] : Object.keys(DRIVERS)) as DriverName[];
  const focus = option('focus') ?? 'External.Storage';
  const procs = Number(process.env.FERRY_SUITE_PROCS ?? '3');
  const out = path.join('/tmp/ferry-e2e-suite', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(out, { recursive: true });

  log('building the suite, agnhost and the suite images (cached after the first run)');
  const bin = await buildSuite();
  const ferry = await FerryCluster.start(log);
  const lines: string[] = [];
  let failed = 0;
  try {
    log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s; installing Ferry`);
    await ferry.install('off', { maxVolumesPerNode: MAX_VOLUMES_PER_NODE });
    for (const driver of drivers) {
      const definition = path.join(out, `${driver}.yaml`);
      writeFileSync(definition, readFileSync(path.join(HERE, DRIVERS[driver]), 'utf8').replaceAll('@SYSTEM_ID@', ferry.pool.systemId));
      const report = `${driver}-report.json`;
      const logFile = path.join(out, `${driver}.log`);
      log(`${driver}: running the suite (${procs} processes), log ${logFile}`);
      const t = Date.now();
      const knownSkips = knownSkipsFor(driver);
      const skip = skipExpression(knownSkips);
      const code = await runGinkgo(bin, [
        `--procs=${procs}`,
        `--focus=${focus}`,
        ...(skip === undefined ? [] : [`--skip=${skip}`]),
        '--no-color',
        '--silence-skips',
        '--timeout=4h',
        `--output-dir=${out}`,
        `--json-report=${report}`,
        path.join(bin, 'e2e-storage.test'),
        '--',
        `--kubeconfig=${ferry.cluster.kubeconfig}`,
        `--storage.testdriver=${definition}`,
        `--repo-root=${REPO}`,
        `--report-dir=${out}`,
      ], logFile);
      const reportFile = path.join(out, report);
      if (!existsSync(reportFile)) throw new Error(`${driver}: ginkgo exited ${code} without a report; see ${logFile}`);
      const summary = summarise(JSON.parse(readFileSync(reportFile, 'utf8')) as SuiteReport[], knownSkips, focus);
      const text = formatSummary(driver, summary, Date.now() - t);
      lines.push(text);
      log(text);
      if (summary.failed.length > 0 || code !== 0) failed += 1;
    }
  } finally {
    await ferry.stop();
  }
  process.stderr.write(`\n== Kubernetes' external storage suite (${focus}) ==\n${lines.join('\n')}\nwall time ${((Date.now() - started) / 60_000).toFixed(1)} min; logs in ${out}\n`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
