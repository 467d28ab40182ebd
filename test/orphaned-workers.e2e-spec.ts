import { TEST_JWT_SECRET } from './support/chat-client.js';
import { waitFor } from './support/ports.js';
import { childrenOf, stateOf } from './support/proc.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * Contract §4: a worker whose primary dies at any moment, its own boot included, exits within 5 s.
 * Workers run in process groups of their own (a SIGKILL of the primary never reaches them), so only
 * their IPC channel tells them; these tests SIGKILL the primary at three moments and watch /proc.
 */
const ORPHAN_LIMIT_MS = 5000;

let redis: RedisServer;

/** Gone, or a zombie waiting for a reaper (it holds no port, connection or file any more). */
const isGone = (pid: number) => ['Z', 'X', undefined].includes(stateOf(pid));

/** The living children of `parent`. */
const liveChildrenOf = (parent: number) => childrenOf(parent).filter((child) => !isGone(child));

function launch(): Promise<ServiceProcess> {
  return ServiceProcess.launch({
    WORKERS: '4',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: 'orphans',
    JWT_SECRET: TEST_JWT_SECRET,
  });
}

/** SIGKILLs the primary and returns how long the last of `workers` took to be gone. */
async function killPrimaryAndTimeWorkers(service: ServiceProcess, workers: number[]): Promise<number> {
  expect(workers.length).toBeGreaterThan(0);
  const killedAt = Date.now();
  service.child.kill('SIGKILL');
  try {
    await waitFor(() => workers.every(isGone), {
      timeoutMs: ORPHAN_LIMIT_MS + 5000,
      intervalMs: 50,
      what: `workers ${workers.join(', ')} gone`,
    });
    return Date.now() - killedAt;
  } finally {
    // A failing run must not leave orphans behind (they would hold the output pipes and this suite).
    for (const worker of workers.filter((w) => !isGone(w))) process.kill(worker, 'SIGKILL');
    await service.stop();
  }
}

beforeAll(async () => {
  redis = await RedisServer.start();
});

afterAll(async () => {
  await stopAllServices();
  await redis.stop();
});

describe('workers whose primary is SIGKILLed exit within 5 s', () => {
  it('while they are still booting', async () => {
    const service = await launch();
    const pid = service.child.pid!;
    const workers = await waitFor(
      () => (liveChildrenOf(pid).length === 4 ? liveChildrenOf(pid) : undefined),
      {
        timeoutMs: 20_000,
        intervalMs: 10,
        what: '4 workers forked',
      },
    );
    expect(service.workerPorts().size).toBe(0); // none has booted yet
    expect(await killPrimaryAndTimeWorkers(service, workers)).toBeLessThan(ORPHAN_LIMIT_MS);
  });

  it('once they serve', async () => {
    const service = await launch();
    await waitFor(() => service.workerPorts().size === 4, { timeoutMs: 60_000, what: '4 workers ready' });
    const workers = [...service.workerPorts().keys()];
    expect(await killPrimaryAndTimeWorkers(service, workers)).toBeLessThan(ORPHAN_LIMIT_MS);
    expect(service.output).toContain('The primary went away; shutting down');
  });

  it('a replacement forked after a crash, killed with its primary during its boot', async () => {
    const service = await launch();
    await waitFor(() => service.workerPorts().size === 4, { timeoutMs: 60_000, what: '4 workers ready' });
    const pid = service.child.pid!;
    const [victim] = service.workerPorts().keys();
    process.kill(victim, 'SIGKILL');
    const replacement = await waitFor(
      () => liveChildrenOf(pid).find((child) => !service.workerPorts().has(child) && child !== victim),
      { timeoutMs: 10_000, intervalMs: 10, what: 'a replacement forked' },
    );
    expect(await killPrimaryAndTimeWorkers(service, [...liveChildrenOf(pid), replacement])).toBeLessThan(
      ORPHAN_LIMIT_MS,
    );
  });
});
