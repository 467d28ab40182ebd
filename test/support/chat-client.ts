import { JwtService } from '@nestjs/jwt';
import { registerMessageContent, registerToken } from './log-audit.js';
import { waitFor } from './ports.js';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';

export const TEST_JWT_SECRET = 'test-secret-for-the-e2e-suite-0123456789abcdef';

/**
 * A handshake token as the identity provider would issue it (HS256, sub, name, exp). Registered with
 * the log audit: no service may print it.
 */
export function tokenFor(
  userId: string,
  { name = `User ${userId}`, secret = TEST_JWT_SECRET, expiresInSeconds = 3600 } = {},
): string {
  const token = new JwtService({ secret }).sign(
    { sub: userId, name },
    { algorithm: 'HS256', expiresIn: expiresInSeconds },
  );
  registerToken(token);
  return token;
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

/**
 * Emits and waits for the ack (rejects after `timeoutMs`). A `message:send` content is registered with
 * the log audit: no service may print it.
 */
export async function request<T = Record<string, unknown>>(
  socket: ChatClient,
  event: string,
  payload?: unknown,
  timeoutMs = 5000,
): Promise<T> {
  if (event === 'message:send')
    registerMessageContent((payload as { content?: unknown } | undefined)?.content);
  return (await socket.timeout(timeoutMs).emitWithAck(event, payload)) as T;
}

/** Collects every `event` the socket receives, for exactly-once assertions. */
export function collect<T = unknown>(socket: ChatClient, event: string): T[] {
  const received: T[] = [];
  socket.on(event, (payload: T) => received.push(payload));
  return received;
}

/**
 * Alice (polling first) on `first` and Bob (websocket) on `second`, both joined to a new conversation
 * Alice created. The caller closes the sockets.
 */
export async function conversationOfTwo(
  first: { baseUrl: string },
  second: { baseUrl: string } = first,
): Promise<{ alice: ChatClient; bob: ChatClient; conversationId: string }> {
  const alice = await connectChat(first.baseUrl, tokenFor('alice'));
  const bob = await connectChat(second.baseUrl, tokenFor('bob'), { transports: ['websocket'] });
  try {
    const created = await request<{ conversation: { id: string } }>(alice, 'conversation:create', {
      memberIds: ['bob'],
    });
    const conversationId = created.conversation.id;
    await request(alice, 'conversation:join', { conversationId });
    await request(bob, 'conversation:join', { conversationId });
    return { alice, bob, conversationId };
  } catch (error) {
    alice.close();
    bob.close();
    throw error;
  }
}

/**
 * Alice on `first`, Bob on `second`, one conversation: each sends once and both must receive both
 * messages. Proves broadcasts cross processes through Redis. Both services must share a database.
 */
export async function expectDeliveryAcross(
  first: { baseUrl: string },
  second: { baseUrl: string },
): Promise<void> {
  const { alice, bob, conversationId } = await conversationOfTwo(first, second);
  try {
    const inboxes = [alice, bob].map((socket) =>
      collect<{ role: string; content: string }>(socket, 'message:new'),
    );
    await request(alice, 'message:send', { conversationId, content: 'across instances' });
    await request(bob, 'message:send', { conversationId, content: 'and back' });
    const userMessages = (inbox: { role: string; content: string }[]) =>
      inbox.filter((m) => m.role === 'user');
    await waitFor(() => inboxes.every((inbox) => userMessages(inbox).length >= 2), {
      what: 'both messages on both instances',
    });
    for (const inbox of inboxes)
      // Each exactly once; the order may differ (a sender's own instance delivers before Redis does).
      expect(
        userMessages(inbox)
          .map((m) => m.content)
          .sort(),
      ).toEqual(['across instances', 'and back']);
  } finally {
    alice.close();
    bob.close();
  }
}

/** The pid of the worker holding `socket`, read from its session hash in Redis. */
export async function workerPidOf(
  redis: { client(): { hget(key: string, field: string): Promise<string | null>; disconnect(): void } },
  keyPrefix: string,
  socket: Pick<ChatClient, 'id'>,
): Promise<number> {
  const observer = redis.client();
  try {
    return Number(await observer.hget(`${keyPrefix}:session:${socket.id}`, 'pid'));
  } finally {
    observer.disconnect();
  }
}
