import {
  conversationOfTwo,
  connectChat,
  collect,
  request,
  TEST_JWT_SECRET,
  tokenFor,
  type ChatClient,
  workerPidOf,
} from './support/chat-client.js';
import { waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

const PREFIX = 'metrics-e2e';
const sockets: ChatClient[] = [];

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[name] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

class Scrape {
  constructor(
    readonly text: string,
    readonly samples: Sample[],
  ) {}

  /** Every sample of `name` whose labels include `labels`. */
  series(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter(
      (sample) =>
        sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    );
  }

  /** Their sum over every other label (workers included), 0 when there is none. */
  total(name: string, labels: Record<string, string> = {}): number {
    return this.series(name, labels).reduce((sum, sample) => sum + sample.value, 0);
  }
}

async function scrape(baseUrl: string): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(15_000) });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  return new Scrape(text, parseExposition(text));
}

/**
 * Scrapes until `probe` holds on a complete scrape (no worker missing from it: on a loaded machine a
 * worker may miss the primary's 2 s deadline), then returns that scrape.
 */
async function scrapeUntil(
  baseUrl: string,
  what: string,
  probe: (scrape: Scrape) => boolean = () => true,
): Promise<Scrape> {
  let last: Scrape | undefined;
  try {
    return await waitFor(
      async () => {
        last = await scrape(baseUrl);
        return last.total('chat_metrics_workers_missing') === 0 && probe(last) ? last : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what },
    );
  } catch (error) {
    const related = last?.text.split('\n').filter((line) => /^(chat|redis|engineio)_/.test(line));
    throw new Error(`${(error as Error).message}\nlast scrape:\n${related?.join('\n')}`, { cause: error });
  }
}

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

afterAll(() => stopAllServices());

describe('GET /metrics with WORKERS=4 (served by the primary for every worker)', () => {
  let redis: RedisServer;
  let service: ServiceProcess;

  beforeAll(async () => {
    redis = await RedisServer.start();
    service = await ServiceProcess.start({
      WORKERS: '4',
      REDIS_ENABLED: 'true',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: PREFIX,
      JWT_SECRET: TEST_JWT_SECRET,
      // Exact counts of message:new: no assistant message beside the user's.
      ASSISTANT_ENABLED: 'false',
      SHUTDOWN_GRACE_MS: '5000',
    });
    await waitFor(() => service.workerPorts().size === 4, { timeoutMs: 60_000, what: '4 workers ready' });
    await waitFor(async () => (await service.get('/api/ready')).status === 200, {
      timeoutMs: 30_000,
      what: 'ready',
    });
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    await redis?.stop();
  });

  it('counts 12 polling-first sockets over the workers, then none once they leave', async () => {
    const before = await scrapeUntil(service.baseUrl, 'a complete scrape');
    const clients = await Promise.all(
      Array.from({ length: 12 }, (_, i) => connectChat(service.baseUrl, tokenFor(`counted-${i}`))),
    );
    sockets.push(...clients);

    const connected = await scrapeUntil(
      service.baseUrl,
      '12 connected sockets',
      (s) => s.total('chat_connected_sockets') === 12,
    );
    // One series per worker (the primary's new sessions go to the least loaded one), none missing.
    const perWorker = connected.series('chat_connected_sockets');
    expect(perWorker.map((s) => s.labels.worker).sort()).toEqual(['0', '1', '2', '3']);
    expect(perWorker.filter((s) => s.value > 0).length).toBeGreaterThanOrEqual(2);
    expect(connected.total('chat_connections_total') - before.total('chat_connections_total')).toBe(12);

    for (const socket of sockets.splice(0)) socket.close();
    const gone = await scrapeUntil(service.baseUrl, 'no connected socket', (s) => {
      return s.total('chat_connected_sockets') === 0;
    });
    const reason = { reason: 'client namespace disconnect' };
    expect(
      gone.total('chat_disconnections_total', reason) - before.total('chat_disconnections_total', reason),
    ).toBe(12);
  }, 90_000);

  it('counts a message:send in, its ok ack and its message:new out, and times its delivery', async () => {
    const { alice, bob, conversationId } = await conversationOfTwo(service);
    sockets.push(alice, bob);
    const inbox = collect(bob, 'message:new');
    const before = await scrapeUntil(service.baseUrl, 'a complete scrape');

    const ack = await request<{ ok: boolean }>(alice, 'message:send', {
      conversationId,
      content: 'measured',
    });
    expect(ack.ok).toBe(true);
    await waitFor(() => inbox.length === 1, { what: "bob's message:new" });

    const send = { event: 'message:send' };
    const after = await scrapeUntil(
      service.baseUrl,
      'the send counted everywhere',
      (s) =>
        s.total('chat_events_sent_total', { event: 'message:new' }) -
          before.total('chat_events_sent_total', { event: 'message:new' }) ===
        2,
    );
    const delta = (name: string, labels: Record<string, string> = {}) =>
      after.total(name, labels) - before.total(name, labels);
    expect(delta('chat_events_received_total', send)).toBe(1);
    expect(delta('chat_acks_total', { ...send, code: 'ok' })).toBe(1);
    expect(delta('chat_event_handler_duration_seconds_count', send)).toBe(1);
    // Once per worker holding a socket of the room: 1 if alice and bob share a worker, else 2.
    expect(delta('chat_message_delivery_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(delta('chat_message_delivery_seconds_count')).toBeLessThanOrEqual(2);
    // Nothing a client sent became a label value.
    expect(after.text).not.toContain(conversationId);
    expect(after.text).not.toContain('alice');
  }, 60_000);

  it("counts 'Session ID unknown' on a worker polled for another worker's session, and at the primary", async () => {
    const client = await connectChat(service.baseUrl, tokenFor('wanderer'), { upgrade: false });
    sockets.push(client);
    const sid = client.io.engine.id;
    const home = await workerPidOf(redis, PREFIX, client);
    const ports = service.workerPorts();
    const [wrongPid, wrongPort] = [...ports].find(([pid]) => pid !== home)!;
    const before = await scrapeUntil(service.baseUrl, 'a complete scrape');
    const unknownBefore = before.total('engineio_session_id_unknown_total');
    expect(before.series('engineio_session_id_unknown_total')).toHaveLength(4);
    expect(before.text).toMatch(/# HELP engineio_session_id_unknown_total .*not sticky/);

    // A load balancer without affinity: the session's next poll reaches another worker.
    const astray = await fetch(`http://127.0.0.1:${wrongPort}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    expect({ status: astray.status, body: await astray.json() }).toEqual({
      status: 400,
      body: { code: 1, message: 'Session ID unknown' },
    });
    // That worker counted it (its own /metrics, unlabelled) and so does the pod's.
    const wrongWorker = await scrape(`http://127.0.0.1:${wrongPort}`);
    expect(wrongWorker.total('engineio_session_id_unknown_total')).toBeGreaterThanOrEqual(1);
    expect(wrongWorker.series('chat_connected_sockets')[0].labels).toEqual({});
    const afterAstray = await scrapeUntil(
      service.baseUrl,
      `the astray poll counted (worker pid ${wrongPid})`,
      (s) => s.total('engineio_session_id_unknown_total') >= unknownBefore + 1,
    );
    expect(client.connected).toBe(true);

    // A sid no process holds (its worker died, or another pod made it), sent to the primary.
    const unknown = await fetch(
      `${service.baseUrl}/socket.io/?EIO=4&transport=polling&sid=nobody-has-this-sid`,
    );
    expect(unknown.status).toBe(400);
    await unknown.body?.cancel();
    await scrapeUntil(
      service.baseUrl,
      'the unknown sid at the primary counted',
      (s) =>
        s.total('engineio_session_id_unknown_total') >=
        afterAstray.total('engineio_session_id_unknown_total') + 1,
    );
  }, 60_000);

  it('times Redis commands by client role and reports every client ready, per worker', async () => {
    const metrics = await scrapeUntil(service.baseUrl, 'a complete scrape');
    expect(metrics.total('redis_command_duration_seconds_count', { role: 'command' })).toBeGreaterThan(0);
    expect(metrics.total('redis_command_duration_seconds_bucket', { role: 'command', le: '+Inf' })).toBe(
      metrics.total('redis_command_duration_seconds_count', { role: 'command' }),
    );
    const ready = metrics.series('redis_client_ready');
    expect(ready).toHaveLength(12);
    expect(ready.every((s) => s.value === 1)).toBe(true);
    // Every process's default metrics, told apart by the worker label.
    expect(
      metrics
        .series('process_start_time_seconds')
        .map((s) => s.labels.worker)
        .sort(),
    ).toEqual(['0', '1', '2', '3', 'primary']);
  });
});

describe('GET /metrics with WORKERS=1 and Redis off (served by the worker)', () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await ServiceProcess.start({ JWT_SECRET: TEST_JWT_SECRET });
  }, 90_000);

  afterAll(() => service?.stop());

  it('answers from the worker, without worker labels or Redis series', async () => {
    const client = await connectChat(service.baseUrl, tokenFor('solo'));
    sockets.push(client);
    const metrics = await scrapeUntil(service.baseUrl, '1 connected socket', (s) => {
      return s.total('chat_connected_sockets') === 1;
    });
    expect(metrics.series('chat_connected_sockets')).toEqual([
      { name: 'chat_connected_sockets', labels: {}, value: 1 },
    ]);
    expect(metrics.series('redis_client_ready')).toEqual([]);
    expect(metrics.series('redis_command_duration_seconds_count')).toEqual([]);
    expect(metrics.series('process_cpu_seconds_total')).toHaveLength(1);
    expect(metrics.text).toContain('# TYPE chat_answers_total counter');
  }, 60_000);
});
