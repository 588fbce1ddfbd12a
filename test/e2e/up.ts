import { LocalCluster } from './cluster.js';

/**
 * Starts the local cluster and keeps it up until Ctrl-C (or SIGTERM), then tears it down: for poking at it by hand.
 *   node --import ./test/e2e/ts-loader.mjs test/e2e/up.ts [--verbose] [--images=busybox,ferry,...]
 * While it runs: kubectl --kubeconfig <printed path> get nodes; a node's shell: nsenter --net=... --mount=... --pid=... (printed).
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const images = args.find((a) => a.startsWith('--images='))?.slice('--images='.length).split(',').filter(Boolean);
  const cluster = await LocalCluster.start({
    verbose: args.includes('--verbose'),
    log: (m) => console.error(m),
    ...(images ? { images } : {}),
  });
  console.log(`cluster up: ${cluster.runDir}`);
  console.log(`  export KUBECONFIG=${cluster.kubeconfig}`);
  for (const node of cluster.nodes.values()) {
    console.log(`  ${node.name}: ${node.address}, shell: ${node.shellCommand()}`);
  }
  console.log('Ctrl-C to tear down');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await cluster.stop();
  console.log('torn down');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
