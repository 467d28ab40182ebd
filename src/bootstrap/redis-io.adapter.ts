import type { IncomingMessage } from 'node:http';
import type { INestApplicationContext } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { isObservable, type Observable, type Subscription } from 'rxjs';
import type { Server, ServerOptions, Socket } from 'socket.io';
import { SocketMetrics } from '../metrics/socket-metrics.js';
import { allowsAnyOrigin } from '../config/cors-origins.js';
import type { SocketIoAdapterConstructor } from '../redis/socket-io-redis-adapter.js';
import { MAX_FRAME_BYTES } from '../common/frame-limit.js';
import { instrumentAdminUi } from '../admin-ui/admin-ui.js';
import type { AppConfig } from '../config/app-config.js';
import { RedisManager } from '../redis/redis.manager.js';

/** Closes an Engine.IO session not in a namespace by then (Socket.IO's default: 45 s). */
const NAMESPACE_CONNECT_TIMEOUT_MS = 10_000;

/** Nest's Socket.IO adapter with the service's server options and the Redis adapter. */
export class RedisIoAdapter extends IoAdapter {
  constructor(
    private readonly app: INestApplicationContext,
    private readonly redisAdapter: SocketIoAdapterConstructor | undefined,
    private readonly corsOrigins: string[],
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: Partial<ServerOptions>): Server {
    const allowAny = allowsAnyOrigin(this.corsOrigins);
    const server: Server = super.createIOServer(port, {
      ...options,
      path: '/socket.io',
      maxHttpBufferSize: MAX_FRAME_BYTES,
      connectTimeout: NAMESPACE_CONNECT_TIMEOUT_MS,
      cors: { origin: allowAny ? true : this.corsOrigins, credentials: true },
      // CORS does not bind WebSocket handshakes: every handshake is checked against the allowed origins.
      allowRequest: (
        req: IncomingMessage,
        callback: (err: string | null | undefined, ok: boolean) => void,
      ) => {
        const origin = req.headers.origin;
        const allowed = allowAny || origin === undefined || this.corsOrigins.includes(origin);
        callback(allowed ? null : 'origin not allowed', allowed);
      },
    } as ServerOptions);
    if (this.redisAdapter) server.adapter(this.redisAdapter);
    // After the adapter is set: the metrics hook creates the /chat namespace, and with it its adapter.
    this.app.get(SocketMetrics).instrument(server);
    // Also after the adapter, so /admin broadcasts and fetchSockets() reach every worker and instance.
    // The Origin check above applies to its handshakes too; /chat's token middleware does not.
    const adminUi = this.app.get(ConfigService<AppConfig, true>).get('adminUi', { infer: true });
    if (adminUi) instrumentAdminUi(server, adminUi, this.app.get(RedisManager));
    return server;
  }

  /**
   * Nest's contract without its per-event rxjs chain: the result answers the ack or is emitted as
   * `{ event, data }`; nothing after disconnect (docs/decisions/0004-plain-listener-message-handlers.md).
   */
  override bindMessageHandlers(
    socket: Socket,
    handlers: MessageMappingProperties[],
    _transform: (data: unknown) => Observable<unknown>,
  ): void {
    const subscriptions = new Set<Subscription>();
    socket.once('disconnect', () => {
      for (const subscription of subscriptions) subscription.unsubscribe();
      subscriptions.clear();
    });
    const fail = (error: unknown): void => this.logger.error(error);
    for (const { message, callback, isAckHandledManually } of handlers) {
      socket.on(message as string, (...args: unknown[]) => {
        // As rxjs fromEvent hands it over: one argument alone, several as an array.
        const { data, ack } = this.mapPayload(args.length > 1 ? args : args[0]);
        const respond = (response: unknown): void => {
          if (response === null || response === undefined || !socket.connected) return;
          const { event, data: eventData } = response as { event?: string; data?: unknown };
          if (event) socket.emit(event, eventData);
          else if (!isAckHandledManually && typeof ack === 'function') ack(response);
        };
        let result: unknown;
        try {
          result = callback(data, ack);
        } catch (error) {
          return fail(error);
        }
        Promise.resolve(result)
          .then((value) => {
            if (!isObservable(value)) return respond(value);
            if (!socket.connected) return;
            const subscription = value.subscribe({ next: respond, error: fail });
            if (subscription.closed) return;
            subscriptions.add(subscription);
            subscription.add(() => subscriptions.delete(subscription));
          })
          .catch(fail);
      });
    }
  }
}
