import { jest } from '@jest/globals';
import { answerMarginMs, InflightKeys } from '../../src/server/inflight.js';
import { DomainError } from '../../src/errors.js';

const soon = (ms: number): Date => new Date(Date.now() + ms);

describe('InflightKeys', () => {
  it('lets a second caller in once the first releases', async () => {
    const keys = new InflightKeys();
    const release = await keys.acquire(['vol-1'], soon(1000));
    let second = false;
    const waiting = keys.acquire(['vol-1'], soon(1000)).then((r) => {
      second = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(second).toBe(false);
    release();
    const release2 = await waiting;
    expect(second).toBe(true);
    release2();
    expect(keys.size).toBe(0);
  });

  it('answers aborted when the deadline passes while waiting, and keeps the holder', async () => {
    const keys = new InflightKeys();
    const release = await keys.acquire(['vol-1'], soon(1000));
    const started = Date.now();
    await expect(keys.acquire(['vol-1'], soon(100))).rejects.toMatchObject({ kind: 'aborted' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(keys.isHeld('vol-1')).toBe(true);
    release();
    expect(keys.isHeld('vol-1')).toBe(false);
  });

  it('gives up a tenth of the time left (at most 1 s) before the deadline, so the answer arrives before it', async () => {
    const keys = new InflightKeys();
    const release = await keys.acquire(['vol-1'], soon(60_000));
    const started = Date.now();
    await expect(keys.acquire(['vol-1'], soon(500))).rejects.toMatchObject({ kind: 'aborted' });
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(440);
    expect(waited).toBeLessThan(500);
    // A long deadline keeps at most 1 s in hand (fake clock: 20 s left, the answer at 19 s).
    jest.useFakeTimers();
    try {
      let answer: unknown;
      void keys.acquire(['vol-1'], soon(20_000)).then(
        () => (answer = 'acquired'),
        (err: unknown) => (answer = err),
      );
      await jest.advanceTimersByTimeAsync(18_900);
      expect(answer).toBeUndefined();
      await jest.advanceTimersByTimeAsync(200);
      expect(answer).toMatchObject({ kind: 'aborted' });
    } finally {
      jest.useRealTimers();
    }
    release();
  });

  it('answers aborted at once when the deadline has already passed', async () => {
    const keys = new InflightKeys();
    const release = await keys.acquire(['a'], soon(1000));
    await expect(keys.acquire(['a'], new Date(Date.now() - 1))).rejects.toBeInstanceOf(DomainError);
    release();
  });

  it('does not deadlock when two callers take the same keys in opposite order', async () => {
    const keys = new InflightKeys();
    const order: string[] = [];
    const work = async (name: string, list: string[]): Promise<void> => {
      const release = await keys.acquire(list, soon(2000));
      order.push(name);
      await new Promise((r) => setTimeout(r, 10));
      release();
    };
    await Promise.all([work('one', ['a', 'b']), work('two', ['b', 'a'])]);
    expect(order.sort()).toEqual(['one', 'two']);
    expect(keys.size).toBe(0);
  });

  it('releases keys taken so far when a later key times out', async () => {
    const keys = new InflightKeys();
    const holdB = await keys.acquire(['b'], soon(1000));
    await expect(keys.acquire(['a', 'b'], soon(50))).rejects.toMatchObject({ kind: 'aborted' });
    expect(keys.isHeld('a')).toBe(false);
    holdB();
  });

  it('serves waiters in arrival order and a release is idempotent', async () => {
    const keys = new InflightKeys();
    const first = await keys.acquire(['k'], soon(1000));
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) =>
      keys.acquire(['k'], soon(1000)).then((release) => {
        order.push(n);
        release();
        release();
      }),
    );
    first();
    first();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
    expect(keys.size).toBe(0);
  });

  it('stops waiting when the call is cancelled', async () => {
    const keys = new InflightKeys();
    const hold = await keys.acquire(['k'], soon(5000));
    const cancel = new AbortController();
    const waiting = keys.acquire(['k'], soon(5000), cancel.signal);
    cancel.abort();
    await expect(waiting).rejects.toMatchObject({ kind: 'aborted' });
    hold();
  });

  it('reports each wait to its observer', async () => {
    const seen: string[] = [];
    const keys = new InflightKeys(1000, { onWait: (_s, outcome) => seen.push(outcome) });
    const hold = await keys.acquire(['k']);
    await expect(keys.acquire(['k'], soon(10))).rejects.toBeDefined();
    hold();
    expect(seen).toEqual(['acquired', 'aborted']);
  });
});

describe('answerMarginMs', () => {
  it('is a tenth of the time left, at most 1 s, and nothing once the deadline has passed', () => {
    const now = 1_000_000;
    expect(answerMarginMs(new Date(now + 5_000), now)).toBe(500);
    expect(answerMarginMs(new Date(now + 60_000), now)).toBe(1_000);
    expect(answerMarginMs(new Date(now - 1), now)).toBe(0);
  });
});
