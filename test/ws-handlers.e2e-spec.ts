import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { finalize, interval, map, type Observable, take } from 'rxjs';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { RedisIoAdapter } from '../src/bootstrap/redis-io.adapter.js';
import { waitFor } from './support/ports.js';

/**
 * RedisIoAdapter.bindMessageHandlers on a real Socket.IO server and client: the contract of Nest's
 * own IoAdapter (results answer acks, `{ event, data }` is emitted, observables stop at disconnect).
 */
describe('RedisIoAdapter event handlers', () => {
  let http: HttpServer;
  let server: Server;
  let client: ClientSocket | undefined;
  const adapter = new RedisIoAdapter({} as INestApplicationContext, undefined, []);

  /** Binds `handlers` (as Nest's gateway callbacks: async functions of (data, ack)) to the next connection. */
  async function connect(handlers: Record<string, (data: unknown) => unknown>): Promise<ClientSocket> {
    const bound = new Promise<void>((resolve) =>
      server.once('connection', (socket: ServerSocket) => {
        const mapped = Object.entries(handlers).map(([message, handler]): MessageMappingProperties => ({
          message,
          methodName: message,
          isAckHandledManually: false,
          callback: async (data: unknown) => handler(data),
        }));
        adapter.bindMessageHandlers(socket, mapped, () => undefined as unknown as Observable<unknown>);
        resolve();
      }),
    );
    const { port } = http.address() as AddressInfo;
    client = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
    await bound;
    return client;
  }

  beforeEach(async () => {
    http = createServer();
    server = new Server(http);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  });

  afterEach(async () => {
    client?.disconnect();
    await server.close();
  });

  it('answers the ack with the handler result, one argument alone and several as an array', async () => {
    const socket = await connect({ echo: (data) => ({ ok: true, data }) });
    await expect(socket.timeout(2000).emitWithAck('echo', { a: 1 })).resolves.toEqual({
      ok: true,
      data: { a: 1 },
    });
    await expect(socket.timeout(2000).emitWithAck('echo', 'x', 2)).resolves.toEqual({
      ok: true,
      data: ['x', 2],
    });
  });

  it('emits an { event, data } result instead of answering, and answers nothing for undefined', async () => {
    const socket = await connect({ ping: () => ({ event: 'pong', data: 42 }), quiet: () => undefined });
    const pong = new Promise((resolve) => socket.once('pong', resolve));
    socket.emit('ping', {});
    await expect(pong).resolves.toBe(42);
    await expect(socket.timeout(300).emitWithAck('quiet', {})).rejects.toThrow('operation has timed out');
  });

  it('emits each value of an observable result and unsubscribes it when the socket disconnects', async () => {
    let unsubscribed = false;
    const socket = await connect({
      ticks: () =>
        // Ends by itself after 2 s, so a broken teardown fails the test below instead of hanging it.
        interval(20).pipe(
          take(100),
          map((n) => ({ event: 'tick', data: n })),
          finalize(() => (unsubscribed = true)),
        ),
    });
    const ticks: number[] = [];
    const third = new Promise<void>((resolve) =>
      socket.on('tick', (n: number) => ticks.push(n) === 3 && resolve()),
    );
    socket.emit('ticks', {});
    await third;
    expect(ticks).toEqual([0, 1, 2]);
    socket.disconnect();
    expect(
      await waitFor(() => unsubscribed, { timeoutMs: 300, intervalMs: 10, what: 'the unsubscription' }),
    ).toBe(true);
  });
});
