import { JwtService } from '@nestjs/jwt';
import { connectChat, TEST_JWT_SECRET } from './support/chat-client.js';
import { registerToken } from './support/log-audit.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/** The demo page's HTTP side: where it is served, with which headers, and who may sign in. */
const PRODUCTION = {
  NODE_ENV: 'production',
  JWT_SECRET: TEST_JWT_SECRET,
  CORS_ORIGINS: 'https://chat.example.com',
};

interface SignInAnswer {
  token?: string;
  userId?: string;
  name?: string;
  expiresAt?: number;
  error?: { code: string; message: string };
}

async function signIn(
  service: ServiceProcess,
  body: unknown,
): Promise<{ status: number; body: SignInAnswer }> {
  const response = await fetch(`${service.baseUrl}/api/dev/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as SignInAnswer;
  if (answer.token) registerToken(answer.token);
  return { status: response.status, body: answer };
}

afterAll(() => stopAllServices());

describe('DEMO_UI on (the default outside production)', () => {
  let service: ServiceProcess;
  beforeAll(async () => {
    service = await ServiceProcess.start({ JWT_SECRET: TEST_JWT_SECRET });
  });
  afterAll(() => service.stop());

  it('serves the page at / with a same-origin-only CSP, its script, and the Socket.IO client', async () => {
    const page = await fetch(`${service.baseUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).toContain('/socket.io/socket.io.min.js');
    expect(html).not.toMatch(/https?:\/\//); // nothing from a CDN
    expect((await fetch(`${service.baseUrl}/app.js`)).status).toBe(200);
    const client = await fetch(`${service.baseUrl}/socket.io/socket.io.min.js`);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/javascript/);
  });

  it('signs a name in with a token of this installation that opens a socket', async () => {
    const { status, body } = await signIn(service, { name: '  Ada Lovelace ' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ userId: 'ada-lovelace', name: 'Ada Lovelace' });
    const token = body.token ?? '';
    const claims = new JwtService({ secret: TEST_JWT_SECRET }).verify<{ sub: string; exp: number }>(token);
    expect(claims.sub).toBe('ada-lovelace');
    expect(claims.exp).toBe(body.expiresAt);
    const socket = await connectChat(service.baseUrl, token);
    socket.close();
  });

  it.each([
    [{}],
    [{ name: '' }],
    [{ name: '   ' }],
    [{ name: '!!!' }],
    [{ name: 'x'.repeat(101) }],
    [{ name: 7 }],
  ])('answers 400 VALIDATION_FAILED to %j', async (body) => {
    const answer = await signIn(service, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('VALIDATION_FAILED');
  });
});

describe('NODE_ENV=production', () => {
  it('serves no page by default: /, the sign-in and /api/docs-json are 404', async () => {
    const service = await ServiceProcess.start(PRODUCTION);
    expect((await fetch(`${service.baseUrl}/`)).status).toBe(404);
    // Nor the OpenAPI description of the HTTP API (served outside production only).
    expect((await fetch(`${service.baseUrl}/api/docs-json`)).status).toBe(404);
    expect((await signIn(service, { name: 'mallory' })).status).toBe(404);
    await service.stop();
  });

  it('with DEMO_UI=true serves the page but refuses the development sign-in (403)', async () => {
    const service = await ServiceProcess.start({ ...PRODUCTION, DEMO_UI: 'true' });
    expect((await fetch(`${service.baseUrl}/`)).status).toBe(200);
    const answer = await signIn(service, { name: 'mallory' });
    expect(answer.status).toBe(403);
    expect(answer.body).toEqual({
      error: { code: 'FORBIDDEN', message: expect.stringContaining('NODE_ENV=production') },
    });
    await service.stop();
  });
});
