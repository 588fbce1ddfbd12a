/**
 * Redaction of what may be logged. CSI marks every secret field `secrets` (csi_secret); gateway and mount
 * credentials hide in keys like `password` or inside option strings like `password=...`.
 */
export const REDACTED = '[redacted]';

const SECRET_KEYS = new Set([
  'secrets',
  'password',
  'passwd',
  'token',
  'authorization',
  'cookie',
  'secret',
  'credentials',
  'apikey',
  'api_key',
]);

const SECRET_ASSIGNMENT = /\b(password|passwd|pass|secret|token|apikey|api_key|sec|credentials)=([^,\s]*)/gi;

function isSecretKey(key: string): boolean {
  const lower = key.toLowerCase();
  return SECRET_KEYS.has(lower) || lower.endsWith('password') || lower.endsWith('secret') || lower.endsWith('token');
}

/** Hides `key=value` credentials inside an option string (mount flags, command lines). */
export function redactString(text: string, extraSecrets: readonly string[] = []): string {
  let result = text.replace(SECRET_ASSIGNMENT, (_m, key: string) => `${key}=${REDACTED}`);
  for (const secret of extraSecrets) {
    if (secret.length > 0) result = result.split(secret).join(REDACTED);
  }
  return result;
}

/** A deep copy of `value` that is safe to log: secret keys replaced, credential assignments in strings hidden. */
export function redact(value: unknown, extraSecrets: readonly string[] = [], depth = 0): unknown {
  if (depth > 32) return '[too deep]';
  if (typeof value === 'string') return redactString(value, extraSecrets);
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  if (Array.isArray(value)) return value.map((item) => redact(item, extraSecrets, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      if (isSecretKey(key)) {
        const empty = inner === undefined || inner === null || (typeof inner === 'object' && Object.keys(inner).length === 0);
        out[key] = empty ? inner : REDACTED;
      } else {
        out[key] = redact(inner, extraSecrets, depth + 1);
      }
    }
    return out;
  }
  return value;
}
