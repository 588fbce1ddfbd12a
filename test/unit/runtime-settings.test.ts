import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DRIVER_ENV, DRIVER_NODE_OPTIONS } from '../../src/driver/runtime-settings.js';

/** The image and the harness must run the driver alike, or the benchmarks measure another program than the one shipped. */
describe('the driver runtime settings', () => {
  const dockerfile = readFileSync(path.join(process.cwd(), 'Dockerfile'), 'utf8');
  const envLine = dockerfile.split('\n').find((line) => line.startsWith('ENV NODE_OPTIONS=')) ?? '';
  const envOf = (name: string): string | undefined => new RegExp(`(?:^ENV | )${name}=("[^"]*"|\\S+)`).exec(envLine)?.[1]?.replace(/^"|"$/g, '');

  it('the Dockerfile sets NODE_OPTIONS to the harness flags', () => {
    expect(envOf('NODE_OPTIONS')?.split(' ')).toEqual([...DRIVER_NODE_OPTIONS]);
  });

  it('the Dockerfile sets every environment variable the harness sets', () => {
    for (const [name, value] of Object.entries(DRIVER_ENV)) expect(envOf(name)).toBe(value);
  });
});
