import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DomainError } from '../../../src/errors.js';
import { resolveDevice, waitForDevice } from '../../../src/node/devices.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-devices-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('waitForDevice without a device', () => {
  it('gives up within its bound as unavailable, naming the path and the wait', async () => {
    const missing = path.join(dir, 'never');
    const started = Date.now();
    const err = await waitForDevice(missing, { timeoutMs: 300, intervalMs: 20 }).catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ kind: 'unavailable' });
    expect((err as Error).message).toMatch(new RegExp(`${missing} did not appear within \\d+ ms \\(limit 300 ms\\)`));
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1500);
  });

  it('rescans once after the first miss, then at most every rescanIntervalMs, never two at a time', async () => {
    const calls: number[] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const started = Date.now();
    const rescan = async (): Promise<void> => {
      calls.push(Date.now() - started);
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((resolve) => setTimeout(resolve, 30));
      concurrent--;
    };
    await expect(waitForDevice(path.join(dir, 'never'), { timeoutMs: 520, intervalMs: 10, rescan, rescanIntervalMs: 200 })).rejects.toMatchObject({
      kind: 'unavailable',
    });
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.length).toBeLessThanOrEqual(3);
    expect(calls[0]).toBeLessThan(100);
    for (let i = 1; i < calls.length; i++) expect((calls[i] ?? 0) - (calls[i - 1] ?? 0)).toBeGreaterThanOrEqual(190);
    expect(maxConcurrent).toBe(1);
  });

  it('a failing rescan is not fatal', async () => {
    const rescan = (): Promise<void> => Promise.reject(new Error('scan tool missing'));
    await expect(waitForDevice(path.join(dir, 'never'), { timeoutMs: 100, intervalMs: 10, rescan })).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it('stops at once when the caller aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await expect(waitForDevice(path.join(dir, 'never'), { timeoutMs: 10_000, intervalMs: 1_000, signal: controller.signal })).rejects.toMatchObject({
      kind: 'aborted',
    });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('passes on a DomainError given as the abort reason (the RPC deadline)', async () => {
    const controller = new AbortController();
    controller.abort(new DomainError('deadline-exceeded', 'NodeStageVolume deadline'));
    await expect(waitForDevice(path.join(dir, 'never'), { timeoutMs: 1_000, signal: controller.signal })).rejects.toMatchObject({ kind: 'deadline-exceeded' });
  });

  it('says so when the path exists but is not a block device', async () => {
    const file = path.join(dir, 'regular');
    await writeFile(file, 'x');
    await expect(waitForDevice(file, { timeoutMs: 60, intervalMs: 10 })).rejects.toThrow(/not a block device/);
    await expect(resolveDevice(file)).rejects.toMatchObject({ kind: 'failed-precondition' });
    await expect(resolveDevice(path.join(dir, 'nope'))).rejects.toMatchObject({ kind: 'not-found' });
    await expect(resolveDevice('relative/path')).rejects.toMatchObject({ kind: 'invalid-argument' });
  });
});
