import { randomBytes } from 'node:crypto';

/** A new object id in the gateway's form: 16 lower-case hex characters. */
export function newId(): string {
  return randomBytes(8).toString('hex');
}

/** The gateway rejects anything else with "must be a hexadecimal number" before it looks the object up. */
export function isWellFormedId(id: string): boolean {
  return /^[0-9a-f]{16}$/.test(id);
}
