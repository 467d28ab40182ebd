import { credentialsFromUrl, describeRedisTarget, redactRedisUrl } from './redis-url.js';

describe('redactRedisUrl', () => {
  it.each([
    ['redis://:s3cret@cache:6379', 'redis://***@cache:6379'],
    ['redis://chat:s3cret@cache:6379/2', 'redis://chat:***@cache:6379/2'],
    ['rediss://:p%40ss@cache.example.com:6380', 'rediss://***@cache.example.com:6380'],
    ['redis://cache:6379', 'redis://cache:6379'],
    ['redis://:s3cret@[bad', 'redis://***'],
  ])('%s -> %s', (url, expected) => {
    expect(redactRedisUrl(url)).toBe(expected);
  });
});

describe('describeRedisTarget', () => {
  const base = {
    enabled: true,
    db: 0,
    keyPrefix: 'socketio',
    sessionTtlSeconds: 3600,
    sentinels: [],
    clusterNodes: [],
  };
  it('names sentinel and cluster nodes without credentials', () => {
    expect(
      describeRedisTarget({
        ...base,
        mode: 'sentinel',
        url: 'redis://:pw@x:1',
        sentinels: [{ host: 's1', port: 26379 }],
        sentinelName: 'mymaster',
      }),
    ).toBe('sentinel://s1:26379/mymaster');
    expect(
      describeRedisTarget({ ...base, mode: 'cluster', clusterNodes: [{ host: 'n1', port: 7000 }] }),
    ).toBe('cluster://n1:7000');
  });
});

describe('credentialsFromUrl', () => {
  it('decodes user, password and TLS', () => {
    expect(credentialsFromUrl('rediss://chat:p%40ss@x:1')).toEqual({
      username: 'chat',
      password: 'p@ss',
      tls: true,
    });
    expect(credentialsFromUrl(undefined)).toEqual({ tls: false });
  });
});
