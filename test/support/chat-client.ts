import { JwtService } from '@nestjs/jwt';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';

export const TEST_JWT_SECRET = 'test-secret-for-the-e2e-suite-0123456789abcdef';

/** A handshake token as the identity provider would issue it (HS256, sub, name, exp). */
export function tokenFor(
  userId: string,
  { name = `User ${userId}`, secret = TEST_JWT_SECRET, expiresInSeconds = 3600 } = {},
): string {
  return new JwtService({ secret }).sign(
    { sub: userId, name },
    { algorithm: 'HS256', expiresIn: expiresInSeconds },
  );
}

export type ChatClient = Socket;

/**
 * Connects to `/chat` (polling first, like a browser, unless `transports` says otherwise) and resolves
 * once connected; rejects with the `connect_error` message. Reconnection is off unless asked for.
 */
export function connectChat(
  baseUrl: string,
  token: string | undefined,
  options: Partial<ManagerOptions & SocketOptions> = {},
): Promise<ChatClient> {
  const socket = io(`${baseUrl}/chat`, {
    auth: token === undefined ? {} : { token },
    reconnection: false,
    forceNew: true,
    timeout: 10_000,
    ...options,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error) => {
      socket.close();
      reject(error);
    });
  });
}

/** Emits and waits for the ack (rejects after `timeoutMs`). */
export async function request<T = Record<string, unknown>>(
  socket: ChatClient,
  event: string,
  payload?: unknown,
  timeoutMs = 5000,
): Promise<T> {
  return (await socket.timeout(timeoutMs).emitWithAck(event, payload)) as T;
}

/** Collects every `event` the socket receives, for exactly-once assertions. */
export function collect<T = unknown>(socket: ChatClient, event: string): T[] {
  const received: T[] = [];
  socket.on(event, (payload: T) => received.push(payload));
  return received;
}
