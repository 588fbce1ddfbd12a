import type { Backend } from '../backends/backend.js';
import { DomainError } from '../errors.js';

/** The configured backends by name; the first is the default for a StorageClass that names none. */
export class BackendRegistry {
  private readonly byName: ReadonlyMap<string, Backend>;

  constructor(readonly all: readonly Backend[]) {
    this.byName = new Map(all.map((b) => [b.name, b]));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get empty(): boolean {
    return this.all.length === 0;
  }

  /** For a parameter: an unknown name is the caller's mistake. */
  forParameter(name: string | undefined): Backend {
    const backend = name === undefined ? this.all[0] : this.byName.get(name);
    if (!backend) {
      throw new DomainError(
        'invalid-argument',
        name === undefined ? 'no backend is configured' : `parameter backend: "${name}" is not a configured backend (${[...this.byName.keys()].join(', ')})`,
      );
    }
    return backend;
  }

  /** For an id: a backend that is not (or no longer) configured means the object cannot be found. */
  forId(name: string, id: string): Backend {
    const backend = this.byName.get(name);
    if (!backend) throw new DomainError('not-found', `${id} belongs to backend "${name}", which is not configured`);
    return backend;
  }
}
