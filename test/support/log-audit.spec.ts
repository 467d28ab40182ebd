import { tokenFor } from './chat-client.js';
import {
  assertNoLeaks,
  findLeaks,
  registeredSecrets,
  registerMessageContent,
  registerSecret,
  registerUrlPassword,
  type SecretKind,
} from './log-audit.js';

/** A log line as the service prints it, with `msg` set. */
const line = (msg: string) =>
  `{"level":"info","time":"2026-01-01T00:00:00.000Z","pid":42,"context":"ChatGateway","msg":"${msg}"}\n`;

describe('the log audit', () => {
  it('finds a leaked token, names its kind, and shows 40 characters either side with the token masked', () => {
    // Arrange
    const token = tokenFor('mallory');
    const secrets = new Map<string, SecretKind>([
      [token, 'test token'],
      [token.split('.')[2], 'test token signature'],
    ]);
    const output = line('WebSocket connected: User bob (sid: abc)') + line(`handshake auth ${token} refused`);
    // Act
    const leaks = findLeaks(output, secrets);
    // Assert: one leak (the signature is inside the token), the token nowhere in the report.
    expect(leaks).toEqual([
      {
        kind: 'test token',
        context: 'xt":"ChatGateway","msg":"handshake auth <test token> refused"}⏎',
      },
    ]);
    expect(() => assertNoLeaks(output, 'the service on port 1', secrets)).toThrow(
      /Log audit: the service on port 1 printed secrets:\n {2}- a test token: …xt":"ChatGateway".*"handshake auth <test token> refused"}⏎…/,
    );
  });

  it('finds a signature alone, a password and a message content, each once, in order of appearance', () => {
    const token = tokenFor('alice');
    const signature = token.split('.')[2];
    const secrets = new Map<string, SecretKind>([
      [token, 'test token'],
      [signature, 'test token signature'],
      ['Pw-That-Must-Never-Be-Printed-42', 'Redis password'],
      ['How do sticky sessions work?', 'message content'],
    ]);
    const output =
      line('Redis manager initialized: redis://:Pw-That-Must-Never-Be-Printed-42@127.0.0.1:6379') +
      line(`User ${signature} joined conversation 1`) +
      line('question: How do sticky sessions work?') +
      line('again: How do sticky sessions work?');
    const leaks = findLeaks(output, secrets);
    expect(leaks.map((leak) => leak.kind)).toEqual([
      'Redis password',
      'test token signature',
      'message content',
    ]);
    for (const leak of leaks) expect(leak.context).not.toMatch(/Pw-That|sticky sessions|eyJ/);
    expect(leaks.map((leak) => leak.context).join('')).not.toContain(signature);
  });

  it('masks a secret cut by the edge of the context window too', () => {
    const secrets = new Map<string, SecretKind>([
      ['first-secret-value-0123456789', 'Redis password'],
      ['second-secret', 'JWT secret'],
    ]);
    const dots = '.'.repeat(30);
    const output = `first-secret-value-0123456789${dots}second-secret and more`;
    const [first, second] = findLeaks(output, secrets);
    // Masked whole, then cut to 40 characters: a label may be cut, a secret never shows.
    expect(first.context).toBe(`<Redis password>${dots}<JWT secre`);
    expect(second.context).toBe(` password>${dots}<JWT secret> and more`);
  });

  it('passes a clean output, and the service lines as they are printed', () => {
    const secrets = new Map<string, SecretKind>([['Pw-That-Must-Never-Be-Printed-42', 'Redis password']]);
    const output =
      line('Redis manager initialized: redis://***@127.0.0.1:6379') +
      line('Message processed for User bob: 26 chars, 1 sources');
    expect(findLeaks(output, secrets)).toEqual([]);
    expect(() => assertNoLeaks(output, 'x', secrets)).not.toThrow();
  });

  describe('the registry', () => {
    it('holds every minted token and its signature', () => {
      const token = tokenFor('registry-user');
      expect(registeredSecrets().get(token)).toBe('test token');
      expect(registeredSecrets().get(token.split('.')[2])).toBe('test token signature');
    });

    it('holds a URL password decoded and encoded; ignores short values and URLs without one', () => {
      registerUrlPassword('Redis password', 'redis://chat:chat%40x9%2Fpw%2B@127.0.0.1:6379');
      registerUrlPassword('Redis password', 'redis://127.0.0.1:6379');
      registerUrlPassword('Redis password', 'not a url');
      registerSecret('JWT secret', 'short');
      expect(registeredSecrets().get('chat@x9/pw+')).toBe('Redis password');
      expect(registeredSecrets().get('chat%40x9%2Fpw%2B')).toBe('Redis password');
      expect(registeredSecrets().has('short')).toBe(false);
    });

    it('holds message contents of 12 characters or more that are not text the service prints itself', () => {
      registerMessageContent('across instances');
      registerMessageContent('and back');
      registerMessageContent('Shutdown complete');
      registerMessageContent({ not: 'a string' });
      expect(registeredSecrets().get('across instances')).toBe('message content');
      expect(registeredSecrets().has('and back')).toBe(false);
      expect(registeredSecrets().has('Shutdown complete')).toBe(false);
    });
  });
});
