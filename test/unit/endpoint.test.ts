import { grpcAddress, parseEndpoint } from '../../src/server/endpoint.js';
import { parseHostPort } from '../../src/server/metrics.js';

describe('endpoints', () => {
  it('accepts a socket path, unix URLs and tcp', () => {
    expect(parseEndpoint('/csi/csi.sock')).toEqual({ kind: 'unix', path: '/csi/csi.sock' });
    expect(parseEndpoint('unix:///csi/csi.sock')).toEqual({ kind: 'unix', path: '/csi/csi.sock' });
    expect(parseEndpoint('unix:/csi/csi.sock')).toEqual({ kind: 'unix', path: '/csi/csi.sock' });
    expect(parseEndpoint('tcp://127.0.0.1:10000')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 10000 });
    expect(parseEndpoint('tcp://[::1]:0')).toEqual({ kind: 'tcp', host: '::1', port: 0 });
  });

  it('rejects what it cannot bind', () => {
    for (const bad of ['csi.sock', 'unix://relative', 'tcp://host', 'tcp://host:99999', 'http://x:1']) {
      expect(() => parseEndpoint(bad)).toThrow(RangeError);
    }
  });

  it('gives grpc-js its address form', () => {
    expect(grpcAddress({ kind: 'unix', path: '/a/b.sock' })).toBe('unix:/a/b.sock');
    expect(grpcAddress({ kind: 'tcp', host: '::1', port: 5 })).toBe('[::1]:5');
  });

  it('parses metrics addresses', () => {
    expect(parseHostPort('127.0.0.1:9808')).toEqual({ host: '127.0.0.1', port: 9808 });
    expect(parseHostPort(':9808')).toEqual({ host: '0.0.0.0', port: 9808 });
    expect(() => parseHostPort('9808')).toThrow(RangeError);
  });
});
