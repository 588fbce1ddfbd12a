import { describe, expect, it } from '@jest/globals';
import { TokenCache } from '../../../src/backends/powerflex/token-cache.js';

/** A login whose completion the test controls. */
function controlledLogin(): { login: () => Promise<string>; calls: () => number; finish: (value?: string) => void; failNext: (err: Error) => void } {
  let count = 0;
  let resolvers: { resolve: (v: string) => void; reject: (e: Error) => void }[] = [];
  return {
    login: () => {
      count += 1;
      return new Promise<string>((resolve, reject) => resolvers.push({ resolve, reject }));
    },
    calls: () => count,
    finish: (value = `token-${count}`) => {
      const pending = resolvers;
      resolvers = [];
      for (const r of pending) r.resolve(value);
    },
    failNext: (err) => {
      const pending = resolvers;
      resolvers = [];
      for (const r of pending) r.reject(err);
    },
  };
}

describe('TokenCache', () => {
  it('logs in once for many concurrent first calls', async () => {
    const control = controlledLogin();
    const cache = new TokenCache(control.login);
    const all = Promise.all(Array.from({ length: 50 }, () => cache.get()));
    control.finish('t1');
    const tokens = await all;
    expect(control.calls()).toBe(1);
    expect(new Set(tokens.map((t) => t.value))).toEqual(new Set(['t1']));
    await cache.get();
    expect(control.calls()).toBe(1);
  });

  it('renews once for every call refused with the same token, before, during or after the login', async () => {
    const control = controlledLogin();
    const cache = new TokenCache(control.login);
    const first = cache.get();
    control.finish('t1');
    const stale = await first;

    const early = Array.from({ length: 25 }, () => cache.renew(stale));
    expect(control.calls()).toBe(2);
    control.finish('t2');
    const late = Array.from({ length: 25 }, () => cache.renew(stale));
    const tokens = await Promise.all([...early, ...late]);
    expect(control.calls()).toBe(2);
    expect(new Set(tokens.map((t) => t.value))).toEqual(new Set(['t2']));
    expect(tokens.every((t) => t.generation === stale.generation + 1)).toBe(true);
  });

  it('renews again when the renewed token is refused too', async () => {
    const control = controlledLogin();
    const cache = new TokenCache(control.login);
    const p1 = cache.get();
    control.finish('t1');
    const t1 = await p1;
    const p2 = cache.renew(t1);
    control.finish('t2');
    const t2 = await p2;
    const p3 = cache.renew(t2);
    control.finish('t3');
    expect((await p3).value).toBe('t3');
    expect(control.calls()).toBe(3);
  });

  it('shares a failed login with its waiters and tries again on the next call', async () => {
    const control = controlledLogin();
    const cache = new TokenCache(control.login);
    const waiters = [cache.get(), cache.get()];
    control.failNext(new Error('refused'));
    for (const w of waiters) await expect(w).rejects.toThrow('refused');
    const next = cache.get();
    control.finish('t2');
    expect((await next).value).toBe('t2');
    expect(control.calls()).toBe(2);
  });

  it('forgets the token on take()', async () => {
    const control = controlledLogin();
    const cache = new TokenCache(control.login);
    const p = cache.get();
    control.finish('t1');
    await p;
    expect(cache.take()?.value).toBe('t1');
    expect(cache.hasToken).toBe(false);
  });
});
