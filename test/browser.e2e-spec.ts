import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import {
  connectChat,
  request,
  TEST_JWT_SECRET,
  tokenFor,
  workerPidOf,
  type ChatClient,
} from './support/chat-client.js';
import { ChatPage, launchChromium } from './support/browser.js';
import { FakeOllama } from './support/fake-ollama.js';
import { sleep, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * The demo page in Debian's Chromium against the real service (4 workers, Redis, the fake Ollama):
 * what a browser does that Node clients never did (polling first, upgrade, a worker dying under it,
 * a network cut), seen through the page's own DOM and Chromium's network log.
 */
const PREFIX = 'browser-e2e';
const TOKENS = ['Redis ', 'keeps ', 'the ', 'sessions ', 'of ', 'all ', 'workers ', 'in ', 'one ', 'place.'];
/** `UPDATE_SCREENSHOTS=1 npm test -- browser` refreshes the README's pictures in docs/. */
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS
  ? 'docs/screenshots'
  : mkdtempSync(join(tmpdir(), 'shots-'));

let redis: RedisServer;
let ollama: FakeOllama;
let service: ServiceProcess;
let browser: Browser;
let alice: ChatPage;
let bob: ChatPage;
let conversationId: string;
const nodeClients: ChatClient[] = [];

const workerOfPage = async (page: ChatPage) => workerPidOf(redis, PREFIX, { id: await page.socketId() });

/** The banner states a page goes through from now on, recorded inside the page. */
async function recordStates(page: ChatPage): Promise<() => Promise<string[]>> {
  // The callbacks run in the page; this file is typed for Node, hence the loose globals.
  await page.banner.evaluate((banner) => {
    const inPage = globalThis as unknown as {
      bannerStates: string[];
      MutationObserver: new (callback: () => void) => { observe(target: unknown, options: object): void };
    };
    const states: string[] = (inPage.bannerStates = []);
    new inPage.MutationObserver(() => states.push(banner.getAttribute('data-state') ?? '')).observe(banner, {
      attributes: true,
      attributeFilter: ['data-state'],
    });
  });
  return () => page.page.evaluate(() => (globalThis as unknown as { bannerStates: string[] }).bannerStates);
}

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  [redis, ollama, browser] = await Promise.all([RedisServer.start(), FakeOllama.start(), launchChromium()]);
  const docs = mkdtempSync(join(tmpdir(), 'browser-docs-'));
  writeFileSync(
    join(docs, 'sessions.md'),
    '# Sticky sessions\n\nRedis keeps the sessions of all workers in one place, so polling never hits an unknown session.\n',
  );
  service = await ServiceProcess.launch({
    WORKERS: '4',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    OLLAMA_URL: ollama.url,
  });
  await waitFor(async () => service.alive && (await service.get('/api/ready')).status === 200, {
    timeoutMs: 30_000,
    what: 'ready',
  });
  service.ingest(docs);
}, 90_000);

beforeEach(() => {
  ollama.script = { tokens: TOKENS, tokenDelayMs: 60 };
});

afterAll(async () => {
  for (const client of nodeClients) client.close();
  await Promise.all([alice?.close(), bob?.close()]);
  await browser?.close();
  await stopAllServices();
  await Promise.all([redis?.stop(), ollama?.stop()]);
});

describe('the demo page in Chromium, 4 workers', () => {
  it('two users chat: each message shown once, the answer streams with its sources, polling then websocket, no 400', async () => {
    alice = await ChatPage.open(browser, service.baseUrl, 'Alice');
    bob = await ChatPage.open(browser, service.baseUrl, 'Bob');
    // New sessions go to the least loaded worker: the two users are served by two processes.
    expect(await workerOfPage(alice)).not.toBe(await workerOfPage(bob));

    conversationId = await alice.createConversation('Release planning', ['bob']);
    await bob.join(conversationId);
    await alice.send('Hello Bob, how do sessions survive 4 workers?');
    await bob.waitForMessage('Hello Bob, how do sessions survive 4 workers?');

    // The answer streams: Bob's page shows it partial before it is complete.
    const partial = await waitFor(
      async () => {
        const answer = (await bob.shownMessages()).find((m) => m.role === 'assistant');
        return answer?.status === 'streaming' && answer.content.length > 0 ? answer : undefined;
      },
      { intervalMs: 20, what: 'a partial answer' },
    );
    expect(TOKENS.join('').startsWith(partial.content)).toBe(true);
    for (const page of [alice, bob]) await page.waitForMessage(TOKENS.join(''));
    expect(await bob.page.getByTestId('source').first().textContent()).toContain('Sticky sessions');

    await bob.send('Thanks Alice');
    await alice.waitForMessage('Thanks Alice');
    for (const page of [alice, bob]) {
      await page.waitForAllAnswered();
      const shown = await page.shownMessages();
      for (const content of ['Hello Bob, how do sessions survive 4 workers?', 'Thanks Alice']) {
        expect(shown.filter((m) => m.content === content)).toHaveLength(1);
      }
      const seqs = shown.map((m) => Number(m.seq));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

      // Engine.IO began on long-polling, then upgraded; the server refused nothing.
      expect(page.engineRequests[0].url).toContain('transport=polling');
      expect(page.websockets.some((url) => url.includes('transport=websocket'))).toBe(true);
      await waitFor(async () => (await page.transport()) === 'websocket', { what: 'the upgrade' });
      expect(page.refusedEngineRequests()).toEqual([]);
      expect(page.failedRequests).toEqual([]);
      expect(page.consoleErrors).toEqual([]);
    }
    await bob.page.screenshot({ path: join(SCREENSHOTS, 'demo-chat.png') });
  });

  it("SIGKILL of the worker holding Bob's session: reconnecting, then resumed; nothing sent is lost, the answer completes", async () => {
    const bobWorker = await workerOfPage(bob);
    expect(await workerOfPage(alice)).not.toBe(bobWorker);
    await bob.send('Sent before the crash');
    await alice.waitForMessage('Sent before the crash');
    await bob.waitForAllAnswered();
    const states = await recordStates(bob);
    const socketBefore = await bob.socketId();

    // Alice's question is answered by her worker, which lives on: the answer is still streaming while
    // Bob reconnects, and his page must stitch it from the sync snapshot and the deltas that follow.
    ollama.script = { tokens: TOKENS, tokenDelayMs: 400 };
    await alice.send('Explain it once more, slowly');
    await waitFor(
      async () => (await bob.shownMessages()).some((m) => m.role === 'assistant' && m.status === 'streaming'),
      { what: 'the slow answer streaming on Bob' },
    );
    process.kill(bobWorker, 'SIGKILL');
    await bob.waitForState(/^resumed$/, 30_000);
    expect(await states()).toContain('reconnecting');
    expect(await bob.socketId()).not.toBe(socketBefore);
    expect(await workerOfPage(bob)).not.toBe(bobWorker);

    ollama.script = { tokens: TOKENS, tokenDelayMs: 60 };
    await bob.send('Sent after the crash');
    await alice.waitForMessage('Sent after the crash');
    for (const page of [alice, bob]) {
      await page.waitForAllAnswered(30_000);
      const shown = await page.shownMessages();
      for (const content of [
        'Sent before the crash',
        'Explain it once more, slowly',
        'Sent after the crash',
      ]) {
        expect(shown.filter((m) => m.content === content)).toHaveLength(1);
      }
      expect(shown.filter((m) => m.role === 'assistant').map((m) => m.content)).toEqual(
        Array(shown.length / 2).fill(TOKENS.join('')),
      );
    }
    await bob.page.screenshot({ path: join(SCREENSHOTS, 'demo-resumed.png') });
    expect(bob.consoleErrors).toEqual([]);
  }, 90_000);

  it("Stop on Bob's page stops the model and shows the answer stopped on both pages", async () => {
    ollama.script = { tokens: TOKENS, tokenDelayMs: 400 };
    await alice.send('Tell me everything, slowly');
    await waitFor(
      async () =>
        (await bob.shownMessages()).some(
          (m) => m.role === 'assistant' && m.status === 'streaming' && m.content.length > 0,
        ),
      { what: 'the answer streaming on Bob' },
    );
    const abandoned = ollama.abandoned.length;
    await bob.page.getByTestId('stop').click();
    await waitFor(() => ollama.abandoned.length > abandoned, { what: "Ollama's request closed" });
    for (const page of [alice, bob]) {
      const stopped = await waitFor(
        async () => (await page.shownMessages()).find((m) => m.status === 'cancelled'),
        { what: 'the answer shown stopped' },
      );
      expect(TOKENS.join('').startsWith(stopped.content)).toBe(true);
      expect(stopped.content.length).toBeLessThan(TOKENS.join('').length);
    }
    expect(bob.consoleErrors).toEqual([]);
  });

  it('a tab cut off the network for 30 s comes back and catches up by paging conversation:sync', async () => {
    ollama.script = { tokens: ['ok'], tokenDelayMs: 0 };
    // A page that syncs 10 messages at a time, so the catch-up below takes several pages.
    const carol = await ChatPage.open(browser, `${service.baseUrl}/?syncLimit=10`, 'Carol');
    const sender = await connectChat(service.baseUrl, tokenFor('alice'), { transports: ['websocket'] });
    nodeClients.push(sender);
    const created = await request<{ conversation: { id: string } }>(sender, 'conversation:create', {
      title: 'Offline',
      memberIds: ['carol'],
    });
    await carol.join(created.conversation.id);
    await request(sender, 'message:send', {
      conversationId: created.conversation.id,
      content: 'before the cut',
    });
    await carol.waitForMessage('before the cut');

    await carol.context.setOffline(true);
    await carol.waitForState(/^reconnecting$/);
    for (let i = 1; i <= 12; i++) {
      const sent = await request<{ ok: boolean }>(sender, 'message:send', {
        conversationId: created.conversation.id,
        content: `while offline ${i}`,
      });
      expect(sent.ok).toBe(true);
    }
    await sleep(30_000);
    await carol.context.setOffline(false);
    await carol.waitForState(/^resumed$/, 30_000);

    for (let i = 1; i <= 12; i++) await carol.waitForMessage(`while offline ${i}`);
    await waitFor(async () => (await carol.shownMessages()).filter((m) => m.content === 'ok').length === 13, {
      what: 'the 13 answers',
    });
    // 12 questions and 12 answers since the cut: at least 3 pages of 10.
    expect(Number(await carol.banner.getAttribute('data-sync-pages'))).toBeGreaterThanOrEqual(3);
    const seqs = (await carol.shownMessages()).map((m) => Number(m.seq));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(carol.consoleErrors).toEqual([]);
    await carol.close();
  }, 120_000);
});
