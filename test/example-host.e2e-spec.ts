import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { MessageView } from '../src/conversations/message.view.js';
import { collect, connectChat, request, tokenFor, type ChatClient } from './support/chat-client.js';
import { FakeOllama } from './support/fake-ollama.js';
import { registerToken } from './support/log-audit.js';
import { freePort, waitFor } from './support/ports.js';

/**
 * examples/nest-host: another Nest application importing `ChatModule.forRootAsync` from the package
 * (`import … from 'nest-chat-redis'`), with its own authentication (RS256 tokens checked against a
 * JWKS) and its own retriever, beside its own HTTP route. Built by `npm test` (build:examples).
 */
const MAIN = resolve(process.cwd(), 'examples/nest-host/dist/main.js');
const ISSUER = 'https://id.example.test';
const AUDIENCE = 'chat';

let jwks: Server;
let ollama: FakeOllama;
let host: ChildProcess;
let output = '';
let baseUrl: string;
let sign: (sub: string, claims?: { aud?: string }) => Promise<string>;
const dir = mkdtempSync(join(tmpdir(), 'example-host-'));
const sockets: ChatClient[] = [];

beforeAll(async () => {
  // The identity provider: a key pair, its public half published as a JWKS.
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  sign = async (sub, { aud = AUDIENCE } = {}) => {
    const token = await new SignJWT({ name: `User ${sub}` })
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .setSubject(sub)
      .setIssuer(ISSUER)
      .setAudience(aud)
      .setExpirationTime('10m')
      .sign(privateKey);
    registerToken(token);
    return token;
  };
  const jwksPort = await freePort();
  jwks = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
  );
  await new Promise<void>((done) => jwks.listen(jwksPort, '127.0.0.1', done));
  ollama = await FakeOllama.start();
  ollama.script = { tokens: ['Open ', 'Settings.'] };

  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  host = spawn(process.execPath, [MAIN], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      STORAGE_DIR: join(dir, 'storage'),
      DATABASE_URL: `sqlite:${join(dir, 'chat.db')}`,
      OLLAMA_URL: ollama.url,
      JWKS_URL: `http://127.0.0.1:${jwksPort}/jwks.json`,
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  host.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  host.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor(
    async () => {
      if (host.exitCode !== null) throw new Error(`the example exited:\n${output}`);
      return (await fetch(`${baseUrl}/api/ready`).catch(() => undefined))?.status === 200;
    },
    { timeoutMs: 60_000, what: 'the example application ready' },
  );
}, 90_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  if (host?.exitCode === null) {
    const exited = new Promise((done) => host.once('exit', done));
    host.kill('SIGTERM');
    await exited;
  }
  await new Promise((done) => jwks?.close(done));
  await ollama?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it("keeps the host's own routes beside the chat's", async () => {
  const hello = await fetch(`${baseUrl}/hello`);
  expect(await hello.json()).toEqual({ hello: 'from the host application' });
  expect((await fetch(`${baseUrl}/api/health`)).status).toBe(200);
});

it("authenticates sockets with the host's JWKS verifier, not the installation's tokens", async () => {
  const socket = await connectChat(baseUrl, await sign('alice'));
  sockets.push(socket);
  await expect(connectChat(baseUrl, await sign('mallory', { aud: 'another-app' }))).rejects.toThrow(
    'unauthorized',
  );
  await expect(connectChat(baseUrl, tokenFor('mallory'))).rejects.toThrow('unauthorized');
});

it("answers with the host's retriever as the source", async () => {
  const socket = await connectChat(baseUrl, await sign('bob'));
  sockets.push(socket);
  const created = await request<{ conversation: { id: string } }>(socket, 'conversation:create', {});
  const conversationId = created.conversation.id;
  await request(socket, 'conversation:join', { conversationId });
  const done = collect<{ message: MessageView }>(socket, 'message:done');
  await request(socket, 'message:send', { conversationId, content: 'How do I reset my password?' });
  await waitFor(() => done.length === 1, { what: 'the answer' });
  expect(done[0].message.content).toBe('Open Settings.');
  expect(done[0].message.sources?.[0]).toMatchObject({ id: 'faq-password', title: 'Resetting a password' });
  expect(JSON.stringify(ollama.chatRequests.at(-1))).toContain('Settings, choose Security');
});
