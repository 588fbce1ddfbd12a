import { DomainError } from '../../src/errors.js';
import { checkRequestLimits, shortForMessage } from '../../src/server/request-limits.js';

function problem(request: unknown): string | undefined {
  try {
    checkRequestLimits(request);
    return undefined;
  } catch (err) {
    if (err instanceof DomainError && err.kind === 'invalid-argument') return err.message;
    throw err;
  }
}

describe('CSI size limits on a request', () => {
  test('strings: 128 bytes, counted in UTF-8; paths 4 KiB; node ids 192; volume and snapshot ids 1 KiB', () => {
    expect(problem({ name: 'n'.repeat(128) })).toBeUndefined();
    expect(problem({ name: 'n'.repeat(129) })).toBe('name: 129 bytes, over the 128-byte limit for this field');
    expect(problem({ name: 'é'.repeat(65) })).toBe('name: 130 bytes, over the 128-byte limit for this field');
    expect(problem({ target_path: `/${'p'.repeat(4000)}` })).toBeUndefined();
    expect(problem({ staging_target_path: `/${'p'.repeat(4096)}` })).toMatch(/^staging_target_path: 4097 bytes, over the 4096-byte limit/);
    expect(problem({ node_id: 'x'.repeat(192) })).toBeUndefined();
    expect(problem({ node_id: 'x'.repeat(193) })).toMatch(/^node_id: 193 bytes/);
    expect(problem({ volume_content_source: { snapshot: { snapshot_id: 's'.repeat(1025) } } })).toMatch(/^volume_content_source\.snapshot\.snapshot_id: 1025 bytes, over the 1024-byte/);
  });

  test('repeated strings one by one, nested messages by path', () => {
    expect(problem({ volume_capability: { mount: { mount_flags: ['ro', 'f'.repeat(129)] } } })).toBe(
      'volume_capability.mount.mount_flags[1]: 129 bytes, over the 128-byte limit for this field',
    );
    expect(problem({ volume_capabilities: [{ mount: { fs_type: 'ext4' } }, { mount: { fs_type: 'x'.repeat(200) } }] })).toMatch(/^volume_capabilities\[1\]\.mount\.fs_type: 200 bytes/);
  });

  test('maps: keys of 128 bytes, 4 KiB of keys and values in all, wherever the map is', () => {
    expect(problem({ parameters: { a: 'v'.repeat(4095) } })).toBeUndefined();
    expect(problem({ parameters: { a: 'v'.repeat(4096) } })).toBe("parameters: 4097 bytes of keys and values, over CSI's 4096-byte limit for a map");
    expect(problem({ secrets: { ['k'.repeat(129)]: 'v' } })).toMatch(/^secrets: a key of 129 bytes \(k{32}… \(129 bytes\)\) is over/);
    // A map value may be longer than a string field: only the map's total counts.
    expect(problem({ volume_context: { mkfsOptions: 'o'.repeat(300) } })).toBeUndefined();
    const segments = { segments: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`topology.example/k${i}`, 'v'.repeat(80)])) };
    expect(problem({ accessibility_requirements: { requisite: [segments] } })).toMatch(/^accessibility_requirements\.requisite\[0\]\.segments: \d+ bytes of keys and values/);
  });

  test('bytes fields and non-string scalars are not strings', () => {
    expect(problem({ capacity_range: { required_bytes: '1073741824', limit_bytes: '0' }, readonly: true, data: Buffer.alloc(10_000) })).toBeUndefined();
  });

  test('a message never carries more than a short head of a value', () => {
    expect(shortForMessage('short')).toBe('short');
    expect(shortForMessage('x'.repeat(1 << 20))).toBe(`${'x'.repeat(64)}… (1048576 bytes)`);
  });
});
