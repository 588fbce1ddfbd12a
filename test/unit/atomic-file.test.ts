import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../src/util/atomic-file.js';

/** Replacing a state file: the new content whole, nothing of the temporary file left. */
describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-atomic-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('replaces the content and leaves no temporary file', async () => {
    const file = path.join(dir, 'sub', 'record.json');
    await writeFileAtomic(file, 'first\n');
    await writeFileAtomic(file, 'second\n');
    expect(await readFile(file, 'utf8')).toBe('second\n');
    expect(await readdir(path.dirname(file))).toEqual(['record.json']);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('writes the same whole file when asked not to wait for the disk', async () => {
    const file = path.join(dir, 'quick.json');
    await writeFileAtomic(file, 'first\n');
    await writeFileAtomic(file, 'second\n', 0o600, { durable: false });
    expect(await readFile(file, 'utf8')).toBe('second\n');
    expect(await readdir(dir)).toEqual(['quick.json']);
  });

  it('takes a mode', async () => {
    await writeFileAtomic(path.join(dir, 'a'), 'x', 0o640);
    expect((await stat(path.join(dir, 'a'))).mode & 0o777).toBe(0o640);
  });

  it('removes its temporary file when the rename fails, and leaves what was there', async () => {
    const taken = path.join(dir, 'taken');
    await mkdir(taken);
    await writeFile(path.join(taken, 'inside'), 'kept');
    await expect(writeFileAtomic(taken, 'new')).rejects.toMatchObject({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/) });
    expect((await readdir(dir)).sort()).toEqual(['taken']);
    expect(await readFile(path.join(taken, 'inside'), 'utf8')).toBe('kept');
  });
});
