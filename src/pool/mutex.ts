/**
 * One async mutex: every state change runs alone, in arrival order, so two requests never interleave their
 * steps (attach, link, persist) between awaits. Reads never take it: they see the last committed state.
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    // The chain must survive a failed step: the next caller waits for settlement, not for success.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
