import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { TEST_JWT_SECRET, workerPidOf } from './support/chat-client.js';
import { ChatPage, launchChromium } from './support/browser.js';
import { HaProxy } from './support/haproxy.js';
import { waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * Two instances (2 workers each) behind Debian's HAProxy with the repository's config/haproxy/haproxy.cfg
 * (SERVERID cookie affinity, readiness checks), one Redis and one database, and the demo page in
 * Chromium: what a pod pair behind a load balancer looks like to a browser.
 */
const PREFIX = 'browser-ha';

let redis: RedisServer;
let haproxy: HaProxy;
let browser: Browser;
const instances: Record<'app1' | 'app2', ServiceProcess> = {} as never;
const pages: ChatPage[] = [];

/** Which instance HAProxy pinned this browser context to (its SERVERID cookie). */
async function instanceOf(page: ChatPage): Promise<'app1' | 'app2' | undefined> {
  const cookie = (await page.context.cookies()).find((c) => c.name === 'SERVERID');
  return cookie?.value as 'app1' | 'app2' | undefined;
}

const workerOfPage = async (page: ChatPage) => workerPidOf(redis, PREFIX, { id: await page.socketId() });

/** Opens polling-only pages until one is pinned to each instance (HAProxy balances by least connections). */
async function onePagePerInstance(): Promise<Record<'app1' | 'app2', ChatPage>> {
  const found: Partial<Record<'app1' | 'app2', ChatPage>> = {};
  for (let i = 0; i < 6 && !(found.app1 && found.app2); i++) {
    const page = await ChatPage.open(browser, `${haproxy.baseUrl}/?transport=polling`, `User ${i}`);
    pages.push(page);
    const instance = await instanceOf(page);
    if (instance && !found[instance]) found[instance] = page;
  }
  expect(Object.keys(found).sort()).toEqual(['app1', 'app2']);
  return found as Record<'app1' | 'app2', ChatPage>;
}

beforeAll(async () => {
  [redis, browser] = await Promise.all([RedisServer.start(), launchChromium()]);
  const shared = mkdtempSync(join(tmpdir(), 'browser-ha-'));
  const env = {
    WORKERS: '2',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    // One database for both instances, as in compose (PostgreSQL there; one SQLite file on one host here).
    DATABASE_URL: `sqlite:${join(shared, 'chat.db')}`,
    ASSISTANT_ENABLED: 'false',
    // As compose.yaml: readiness 503 long enough for HAProxy's checks (2 s x 2) to take the instance out.
    SHUTDOWN_DRAIN_DELAY_MS: '5000',
    SHUTDOWN_GRACE_MS: '10000',
  };
  [instances.app1, instances.app2] = await Promise.all([
    ServiceProcess.launch(env),
    ServiceProcess.launch(env),
  ]);
  for (const instance of Object.values(instances)) {
    await waitFor(async () => instance.alive && (await instance.get('/api/ready')).status === 200, {
      timeoutMs: 60_000,
      what: 'an instance ready',
    });
  }
  haproxy = await HaProxy.start(instances.app1.port, instances.app2.port);
}, 120_000);

afterAll(async () => {
  for (const page of pages) await page.close();
  await browser?.close();
  await haproxy?.stop();
  await stopAllServices();
  await redis?.stop();
});

describe('the demo page through HAProxy, two instances of 2 workers', () => {
  let byInstance: Record<'app1' | 'app2', ChatPage>;
  let conversationId: string;

  it('cookie affinity: polling never crosses instances, and a message reaches members on both', async () => {
    byInstance = await onePagePerInstance();
    const { app1: first, app2: second } = byInstance;
    const names = await Promise.all(
      [first, second].map(async (p) => (await p.page.getByTestId('signed-in-as').textContent()) ?? ''),
    );
    const secondId = /\(([^)]+)\)/.exec(names[1])![1];
    conversationId = await first.createConversation('Across instances', [secondId]);
    await second.join(conversationId);
    for (let i = 1; i <= 3; i++) {
      await first.send(`from app1 #${i}`);
      await second.send(`from app2 #${i}`);
    }
    for (const page of [first, second]) {
      for (let i = 1; i <= 3; i++) {
        await page.waitForMessage(`from app1 #${i}`);
        await page.waitForMessage(`from app2 #${i}`);
      }
      expect(await page.transport()).toBe('polling');
      // Every long-poll of the session reached the instance that holds it: no 400, no unknown session.
      expect(page.engineRequests.length).toBeGreaterThan(5);
      expect(page.refusedEngineRequests()).toEqual([]);
      expect(page.consoleErrors).toEqual([]);
    }
    expect(instances.app1.workerPorts().has(await workerOfPage(first))).toBe(true);
    expect(instances.app2.workerPorts().has(await workerOfPage(second))).toBe(true);
  });

  it('SIGTERM drains app1: its pages move to app2 without a click and chat on', async () => {
    const { app1: moving, app2: staying } = byInstance;
    const socketBefore = await moving.socketId();
    const stopped = instances.app1.stop('SIGTERM');
    await moving.waitForState(/^resumed$/, 30_000);
    expect(await moving.socketId()).not.toBe(socketBefore);
    expect(await instanceOf(moving)).toBe('app2');
    expect(instances.app2.workerPorts().has(await workerOfPage(moving))).toBe(true);
    expect((await stopped).code).toBe(0);

    await moving.send('after the move');
    await staying.waitForMessage('after the move');
    await staying.send('welcome on app2');
    await moving.waitForMessage('welcome on app2');
    const shown = await moving.shownMessages();
    expect(shown.filter((m) => m.content === 'from app2 #3')).toHaveLength(1);
  }, 60_000);
});
