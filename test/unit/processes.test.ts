import { describe, expect, it } from '@jest/globals';
import { parseProcStat, processInfo } from '../../src/util/processes.js';
import { withParentDeathSignal } from '../../src/util/parent-death.js';

describe('parseProcStat', () => {
  it('reads state, group and start time after a name that holds spaces and parentheses', () => {
    const text = '4242 (mk fs) (x)) S 1 4242 4242 0 -1 4194560 120 0 0 0 1 2 0 0 20 0 1 0 987654 12345678 100 18446744073709551615';
    expect(parseProcStat(4242, text)).toEqual({ pid: 4242, pgrp: 4242, startTime: '987654', comm: 'mk fs) (x)', state: 'S' });
  });

  it('refuses what is not a stat line', () => {
    expect(parseProcStat(1, 'garbage')).toBeUndefined();
    expect(parseProcStat(1, '1 (short) S 0')).toBeUndefined();
  });

  it('agrees with this very process', () => {
    const me = processInfo(process.pid);
    expect(me).toMatchObject({ pid: process.pid, state: expect.stringMatching(/^[RS]$/) });
    expect(BigInt(me?.startTime ?? '0')).toBeGreaterThan(0n);
  });
});

describe('withParentDeathSignal', () => {
  it('runs the command through setpriv --pdeathsig KILL, which executes it in place', () => {
    const [file, args] = withParentDeathSignal('mkfs.ext4', ['-F', '--', '/dev/loop7']);
    expect(file).toMatch(/\/setpriv$/);
    expect(args).toEqual(['--pdeathsig', 'KILL', '--', 'mkfs.ext4', '-F', '--', '/dev/loop7']);
  });
});

describe('exec through the parent-death wrapper', () => {
  it('a program that does not exist is reported as failing to start, naming the program', async () => {
    const { exec } = await import('../../src/util/exec.js');
    await expect(exec('ferry-no-such-program', ['x'], { timeoutMs: 5_000 })).rejects.toMatchObject({
      kind: 'internal',
      message: expect.stringMatching(/^ferry-no-such-program x: failed to start: .*No such file or directory/),
    });
  });

  it('output, exit codes and stdin pass through unchanged', async () => {
    const { exec } = await import('../../src/util/exec.js');
    expect(await exec('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'in', okExitCodes: [3], timeoutMs: 5_000 })).toEqual({ exitCode: 3, stdout: 'in', stderr: 'err\n' });
  });
});
