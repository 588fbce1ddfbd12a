import { refusal } from '../../helpers/refusal.js';
import { overlayQos, parseMutableParameters, parseQos, qosToContext } from '../../../src/parameters/qos.js';
import { checkVolumeContext } from '../../../src/parameters/volume-options.js';
import { deviceLimits } from '../../../src/pool/mapping-limits.js';
import type { VolumeRecord } from '../../../src/pool/state.js';


describe('parseQos: the gateway rules for setMappedSdcLimits', () => {
  test('whole MiB/s bandwidth and IOPS above 10 are taken; 0 is unlimited; other keys are not its business', () => {
    expect(parseQos({ bandwidthLimitInKbps: '10240', iopsLimit: '11', storagePool: 'p' }, 'parameter')).toEqual({ bandwidthKbps: 10240n, iops: 11n });
    expect(parseQos({ bandwidthLimitInKbps: '0', iopsLimit: '0' }, 'parameter')).toEqual({ bandwidthKbps: 0n, iops: 0n });
    expect(parseQos({}, 'parameter')).toEqual({});
  });

  test.each([
    [{ bandwidthLimitInKbps: '1000' }, /parameter bandwidthLimitInKbps: 1000 is not a multiple of 1024/],
    [{ bandwidthLimitInKbps: '10M' }, /not a whole decimal number/],
    [{ bandwidthLimitInKbps: '-1024' }, /not a whole decimal number/],
    [{ bandwidthLimitInKbps: ' 1024' }, /not a whole decimal number/],
    [{ bandwidthLimitInKbps: '4294967296' }, /is more than/],
    [{ iopsLimit: '10' }, /parameter iopsLimit: 10 is too low/],
    [{ iopsLimit: '1.5' }, /not a whole decimal number/],
    [{ iopsLimit: '' }, /not a whole decimal number/],
  ])('%j is refused, naming the key', (source, message) => {
    expect(refusal(() => parseQos(source, 'parameter'))).toMatch(message);
  });

  test('the volume context is checked by the same rules at ControllerPublish', () => {
    expect(refusal(() => checkVolumeContext({ iopsLimit: '5' }))).toMatch(/^volume_context iopsLimit/);
    expect(() => checkVolumeContext({ iopsLimit: '500', bandwidthLimitInKbps: '2048' })).not.toThrow();
  });
});

describe('mutable parameters', () => {
  test('only the QoS keys are mutable', () => {
    expect(parseMutableParameters({ iopsLimit: '200' })).toEqual({ iops: 200n });
    expect(parseMutableParameters({})).toEqual({});
    expect(refusal(() => parseMutableParameters({ iopsLimit: '200', thinOrThick: 'ThickProvisioned', XXX_FakeKey: 'x' }))).toMatch(
      /^mutable_parameters XXX_FakeKey, thinOrThick: not mutable/,
    );
  });

  test('a change overlays only the keys it names; the context spells limits back as given', () => {
    expect(overlayQos({ bandwidthKbps: 10240n, iops: 100n }, { iops: 0n })).toEqual({ bandwidthKbps: 10240n, iops: 0n });
    expect(overlayQos({ bandwidthKbps: 10240n }, {})).toEqual({ bandwidthKbps: 10240n });
    expect(qosToContext({ bandwidthKbps: 20480n, iops: 300n })).toEqual({ bandwidthLimitInKbps: '20480', iopsLimit: '300' });
  });
});

describe('the pool: one loop device per access mode enforces the strictest limit of the mappings it serves', () => {
  const volume = (mappings: VolumeRecord['mappings']): VolumeRecord => ({
    id: '0123456789abcdef',
    name: 'v',
    sizeKiB: 8n << 20n,
    volumeType: 'ThinProvisioned',
    vtreeId: '1123456789abcdef',
    ancestorVolumeId: null,
    consistencyGroupId: null,
    creationTime: 0,
    accessModeLimit: 'ReadWrite',
    mappings,
  });

  test('MiB/s to bytes per second; unlimited mappings do not lift a limit; each mode on its own', () => {
    const v = volume([
      { sdcId: 'a', accessMode: 'ReadWrite', limitBwInMbps: 20, limitIops: 0 },
      { sdcId: 'b', accessMode: 'ReadWrite', limitBwInMbps: 10, limitIops: 500 },
      { sdcId: 'c', accessMode: 'ReadWrite', limitBwInMbps: 0, limitIops: 0 },
      { sdcId: 'd', accessMode: 'ReadOnly', limitBwInMbps: 0, limitIops: 0 },
    ]);
    expect(deviceLimits(v, 'ReadWrite')).toEqual({ bps: 10n * 1024n * 1024n, iops: 500n });
    expect(deviceLimits(v, 'ReadOnly')).toEqual({ bps: 0n, iops: 0n });
  });
});
