/**
 * Undo actions, last in first out: each step that changes something pushes how to take it back, so that a run which
 * stops half-way (a failed check, an error, Ctrl-C) unwinds exactly what it did, in the right order. A step may also
 * take back one of its own entries early (the demo moving a volume to another node); that entry leaves the stack.
 */
export interface UndoEntry {
  readonly label: string;
  readonly run: () => Promise<string | void>;
}

export class Teardown {
  private readonly stack: UndoEntry[] = [];

  push(label: string, run: () => Promise<string | void>): UndoEntry {
    const entry = { label, run };
    this.stack.push(entry);
    return entry;
  }

  /** Removes an entry so that the caller can run it now; it will not run again at the end. */
  take(entry: UndoEntry): UndoEntry {
    const index = this.stack.lastIndexOf(entry);
    if (index >= 0) this.stack.splice(index, 1);
    return entry;
  }

  get size(): number {
    return this.stack.length;
  }

  /** Every entry still on the stack, newest first; the stack is left empty. */
  drain(): UndoEntry[] {
    return this.stack.splice(0).reverse();
  }
}
