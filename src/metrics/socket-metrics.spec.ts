import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { Server } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { SocketMetrics, ackCode } from './socket-metrics.js';

describe('ackCode', () => {
  it('is ok, a known error code, or unknown', () => {
    expect(ackCode({ ok: true, message: {} })).toBe('ok');
    expect(ackCode({ ok: false, error: { code: 'RATE_LIMITED', message: 'slow down' } })).toBe(
      'RATE_LIMITED',
    );
    expect(ackCode({ ok: false, error: { code: 'user-42' } })).toBe('unknown');
    expect(ackCode({ ok: false, error: { code: 'toString' } })).toBe('unknown');
    expect(ackCode(undefined)).toBe('unknown');
    expect(ackCode('ok')).toBe('unknown');
  });
});

describe('SocketMetrics on a real Socket.IO server', () => {
  let http: HttpServer;
  let server: Server;
  let registry: Registry;
  let metrics: SocketMetrics;
  let url: string;
  const clients: ClientSocket[] = [];

  const connect = () =>
    new Promise<ClientSocket>((resolve, reject) => {
      const client = io(`${url}/chat`, { forceNew: true, reconnection: false, transports: ['polling'] });
      clients.push(client);
      client.once('connect', () => resolve(client));
      client.once('connect_error', reject);
    });

  /** The value of one series in the registry's text output (0 when absent). */
  const value = async (series: string) => {
    const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };

  beforeEach(async () => {
    http = createServer();
    server = new Server(http);
    registry = new Registry();
    metrics = new SocketMetrics(registry);
    metrics.instrument(server);
    server.of('/chat').on('connection', (socket) => {
      socket.on('message:send', (payload: { conversationId: string }, ack: (r: unknown) => void) => {
        server.of('/chat').emit('message:new', {
          id: 'm1',
          conversationId: payload.conversationId,
          createdAt: new Date(Date.now() - 50).toISOString(),
        });
        ack({ ok: true });
      });
      socket.on('conversation:join', (_payload: unknown, ack: (r: unknown) => void) =>
        ack({ ok: false, error: { code: 'FORBIDDEN', message: 'no' } }),
      );
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    const closed = new Promise((resolve) => server.close(resolve));
    http.closeAllConnections(); // long-polls and fetch's keep-alive connection
    await closed;
  });

  it('counts events in, acks by code, events out per socket and one delivery per message', async () => {
    const [alice, bob] = await Promise.all([connect(), connect()]);
    expect(await value('chat_connected_sockets')).toBe(2);
    const received = new Promise((resolve) => bob.once('message:new', resolve));

    expect(await alice.emitWithAck('message:send', { conversationId: 'c1' })).toEqual({ ok: true });
    alice.emit('made:up', 'no ack'); // arrives before the next event, which is awaited
    await alice.emitWithAck('conversation:join', { conversationId: 'c1' });
    await received;

    await expect(value('chat_events_received_total{event="message:send"}')).resolves.toBe(1);
    await expect(value('chat_acks_total{event="message:send",code="ok"}')).resolves.toBe(1);
    await expect(value('chat_acks_total{event="conversation:join",code="FORBIDDEN"}')).resolves.toBe(1);
    await expect(value('chat_event_handler_duration_seconds_count{event="message:send"}')).resolves.toBe(1);
    await expect(value('chat_events_sent_total{event="message:new"}')).resolves.toBe(2);
    // Two receiving sockets, one message: one delivery, at least as old as the message.
    await expect(value('chat_message_delivery_seconds_count')).resolves.toBe(1);
    expect(await value('chat_message_delivery_seconds_sum')).toBeGreaterThanOrEqual(0.05);
    await expect(value('chat_events_received_total{event="unknown"}')).resolves.toBe(1);
    expect(await registry.metrics()).not.toContain('made:up');
  });

  it('counts connections and disconnections by reason, and Engine.IO requests for unknown sessions', async () => {
    const client = await connect();
    client.close();
    await expect(
      (async () => {
        while ((await value('chat_connected_sockets')) !== 0) await new Promise((r) => setTimeout(r, 10));
        return value('chat_disconnections_total{reason="client namespace disconnect"}');
      })(),
    ).resolves.toBe(1);
    expect(await value('chat_connections_total')).toBe(1);

    const answer = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=nobody`);
    expect(answer.status).toBe(400);
    expect(await value('engineio_session_id_unknown_total')).toBe(1);
  });

  it('counts errors the adapter emits', async () => {
    server.of('/chat').adapter.emit('error', new Error('publish failed'));
    expect(await value('chat_adapter_errors_total')).toBe(1);
  });
});
