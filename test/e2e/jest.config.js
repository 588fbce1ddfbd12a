// The end-to-end tests: a real local Kubernetes cluster (cluster.ts). Not part of `npm test`; run with
//   node --experimental-vm-modules node_modules/jest/bin/jest.js --config test/e2e/jest.config.js --runInBand
// They need root, and the first run builds Kubernetes and the images (build-tools.sh, images.sh: tens of minutes).
const tsJest = [
  'ts-jest',
  { useESM: true, tsconfig: 'tsconfig.json', diagnostics: { ignoreCodes: ['TS151001'] } },
];

/** @type {import('jest').Config} */
export default {
  rootDir: '../..',
  displayName: 'e2e',
  testMatch: ['<rootDir>/test/e2e/**/*.e2e.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
  // A cold start builds everything first.
  testTimeout: 2 * 3600_000,
};
