import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { connectChat, request, TEST_JWT_SECRET, tokenFor } from './support/chat-client.js';
import { registerSecret, registerToken } from './support/log-audit.js';
import { waitFor } from './support/ports.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/** The constant earlier versions signed with when JWT_SECRET was unset. */
const OLD_DEVELOPMENT_SECRET = 'development-only-secret-never-use-in-production';

afterAll(async () => {
  await stopAllServices();
});

/** `npm run token` as a user runs it, against the installation whose storage is `storageDir`. */
function mintDevToken(storageDir: string, sub: string): string {
  const run = spawnSync(process.execPath, [resolve('dist/cli/dev-token.js'), '--sub', sub], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', STORAGE_DIR: storageDir },
    encoding: 'utf8',
  });
  expect(run.status).toBe(0);
  const token = run.stdout.trim();
  registerToken(token);
  return token;
}

describe('JWT secrets', () => {
  it.each([
    ['the .env.example value', 'change-me-to-at-least-32-random-characters'],
    ['one that says example', 'my-example-secret-for-the-chat-service-0123'],
  ])('refuses to start in production with a placeholder secret: %s', async (_case, secret) => {
    const service = await ServiceProcess.launch({
      NODE_ENV: 'production',
      JWT_SECRET: secret,
      CORS_ORIGINS: 'https://chat.example.com',
    });
    expect((await service.exited).code).toBe(1);
    expect(service.output).toMatch(/Invalid configuration: JWT_SECRET is a placeholder/);
    expect(service.output).not.toMatch(/\n\s+at /);
  });

  it('signs with a random secret of the installation when JWT_SECRET is unset, shared with npm run token', async () => {
    const [first, second] = await Promise.all([ServiceProcess.start(), ServiceProcess.start()]);
    const storage = join(first.dataDir, 'storage');
    const secretFile = join(storage, 'jwt-secret');
    const secret = readFileSync(secretFile, 'utf8');
    registerSecret('JWT secret', secret);
    expect(secret.length).toBeGreaterThanOrEqual(48);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(second.dataDir, 'storage', 'jwt-secret'), 'utf8')).not.toBe(secret);

    const forged = tokenFor('admin', { secret: OLD_DEVELOPMENT_SECRET });
    await expect(connectChat(first.baseUrl, forged)).rejects.toThrow('unauthorized');

    const minted = mintDevToken(storage, 'alice');
    const alice = await connectChat(first.baseUrl, minted);
    alice.close();
    // A token minted for one installation is refused by another.
    await expect(connectChat(second.baseUrl, minted)).rejects.toThrow('unauthorized');

    const ready = JSON.stringify((await first.get('/api/ready')).body);
    expect(ready).not.toContain(secret);
    await first.stop();
    await second.stop();
  });
});

describe('readiness tells the public what failed, not how', () => {
  it("reports a failed check by its kind, logs the driver's error once, and says when it is back", async () => {
    const service = await ServiceProcess.start({ JWT_SECRET: TEST_JWT_SECRET });
    const storage = join(service.dataDir, 'storage');
    rmSync(storage, { recursive: true, force: true });
    for (let i = 0; i < 3; i++) {
      const ready = await service.get<{ details: Record<string, { status: string; message?: string }> }>(
        '/api/ready',
      );
      expect(ready.status).toBe(503);
      expect(ready.body.details.storage).toMatchObject({
        status: 'down',
        message: 'unavailable (the reason is in the service log)',
      });
      expect(JSON.stringify(ready.body)).not.toContain(service.dataDir);
    }
    expect(service.output.match(/Readiness check storage failed: ENOENT/g)).toHaveLength(1);

    mkdirSync(storage);
    await waitFor(async () => (await service.get('/api/ready')).status === 200, { what: 'ready again' });
    expect(service.output).toMatch(/Readiness check storage is up again/);
    await service.stop();
  });
});

describe('a database outage is one story in the log', () => {
  it('logs a failure repeated by many events once, with its stack, and answers each INTERNAL', async () => {
    const service = await ServiceProcess.start({ JWT_SECRET: TEST_JWT_SECRET });
    const alice = await connectChat(service.baseUrl, tokenFor('alice'));
    const created = await request<{ conversation: { id: string } }>(alice, 'conversation:create', {});
    const conversationId = created.conversation.id;
    await request(alice, 'conversation:join', { conversationId });

    // Another connection holds SQLite's write lock past the service's 5 s busy timeout.
    const blocker = new Database(join(service.dataDir, 'chat.db'));
    blocker.exec('BEGIN EXCLUSIVE');
    let answers: { ok: boolean; error?: { code: string } }[];
    try {
      answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          request<{ ok: boolean; error?: { code: string } }>(
            alice,
            'message:send',
            { conversationId, content: `during the outage ${i}` },
            30_000,
          ),
        ),
      );
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    expect(answers.every((answer) => answer.error?.code === 'INTERNAL')).toBe(true);
    expect(service.output.match(/Event message:send failed/g)).toHaveLength(1);
    expect(await request(alice, 'message:send', { conversationId, content: 'after' })).toMatchObject({
      ok: true,
    });
    alice.close();
    await service.stop();
  });
});
