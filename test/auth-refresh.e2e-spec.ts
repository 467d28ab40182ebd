import { connectChat, request, TEST_JWT_SECRET, tokenFor, type ChatClient } from './support/chat-client.js';
import { sleep } from './support/ports.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * `auth:refresh { token }` (contract §4): a socket's token replaced without reconnecting. The same user's
 * valid token moves the expiry; anything else is UNAUTHORIZED and the old expiry stands.
 */
interface RefreshAck {
  ok: boolean;
  expiresAt?: number;
  error?: { code: string };
}

let service: ServiceProcess;
const sockets: ChatClient[] = [];

async function connect(userId: string, expiresInSeconds: number): Promise<ChatClient> {
  const socket = await connectChat(service.baseUrl, tokenFor(userId, { expiresInSeconds }));
  sockets.push(socket);
  return socket;
}

const disconnectReason = (socket: ChatClient) =>
  new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(reason)));

beforeAll(async () => {
  service = await ServiceProcess.start({ JWT_SECRET: TEST_JWT_SECRET });
});

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await stopAllServices();
});

it('keeps a socket whose first token expires connected once refreshed, with the new expiry', async () => {
  const socket = await connect('alice', 3);
  let disconnected = false;
  socket.on('disconnect', () => (disconnected = true));
  const answer = await request<RefreshAck>(socket, 'auth:refresh', {
    token: tokenFor('alice', { expiresInSeconds: 600 }),
  });
  expect(answer.ok).toBe(true);
  expect(answer.expiresAt! - Date.now() / 1000).toBeGreaterThan(590);
  await sleep(4500); // past the first token's expiry
  expect(disconnected).toBe(false);
  const created = await request<{ ok: boolean }>(socket, 'conversation:create', { title: 'still here' });
  expect(created.ok).toBe(true);
});

it("refuses another user's, an expired and a forged token, and the old expiry stands", async () => {
  const socket = await connect('bob', 4);
  const cut = disconnectReason(socket);
  const refusals = [
    tokenFor('mallory', { expiresInSeconds: 600 }),
    tokenFor('bob', { expiresInSeconds: -10 }),
    tokenFor('bob', { secret: 'another-secret-another-secret-0000', expiresInSeconds: 600 }),
    'not.a.jwt',
  ];
  for (const token of refusals) {
    const answer = await request<RefreshAck>(socket, 'auth:refresh', { token });
    expect(answer).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
  }
  const invalid = await request<RefreshAck>(socket, 'auth:refresh', {});
  expect(invalid).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
  // Nothing changed: the first token's expiry still ends the socket.
  expect(await cut).toBe('io server disconnect');
});

it('counts against the event budget like every event', async () => {
  const socket = await connect('carol', 600);
  const token = tokenFor('carol', { expiresInSeconds: 600 });
  const answers: RefreshAck[] = [];
  for (let i = 0; i < 101; i++) answers.push(await request<RefreshAck>(socket, 'auth:refresh', { token }));
  // The user's 100 events per 30 s, or the connection's flood guard first: RATE_LIMITED either way.
  expect(answers.slice(0, 50).every((a) => a.ok)).toBe(true);
  expect(answers.filter((a) => a.error?.code === 'RATE_LIMITED').length).toBeGreaterThan(0);
});
