import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { registerToken } from './log-audit.js';
import { waitFor } from './ports.js';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). Playwright never downloads one here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless Chromium as root on a closed network: no sandbox (root), and no background traffic to
 * Google's hosts, which this machine refuses (and which would otherwise show up in the network log).
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface EngineRequest {
  method: string;
  url: string;
  status: number;
  body: string;
}

/**
 * One user's tab in a browser context of its own (own cookies, own storage), with what the page did
 * recorded: every Engine.IO HTTP exchange, every WebSocket opened, console errors and page errors.
 */
export class ChatPage {
  readonly engineRequests: EngineRequest[] = [];
  readonly websockets: string[] = [];
  readonly consoleErrors: string[] = [];
  readonly failedRequests: string[] = [];

  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
  ) {
    page.on('console', (message) => {
      if (message.type() === 'error') this.consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => this.consoleErrors.push(`pageerror: ${error.message}`));
    page.on('websocket', (ws) => this.websockets.push(ws.url()));
    page.on('requestfailed', (request) => {
      // A long-poll cut by a reconnect, an upgrade or a network cut is expected; the rest is recorded.
      if (!request.url().includes('/socket.io/')) this.failedRequests.push(request.url());
    });
    page.on('response', async (response) => {
      const url = response.url();
      if (!url.includes('/socket.io/?')) return;
      const exchange = { method: response.request().method(), url, status: response.status(), body: '' };
      this.engineRequests.push(exchange);
      if (response.status() >= 400) exchange.body = await response.text().catch(() => '');
    });
  }

  /** Opens `url` in a new context, signs in as `name` and waits for the socket to connect. */
  static async open(browser: Browser, url: string, name: string): Promise<ChatPage> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const chat = new ChatPage(context, await context.newPage());
    await chat.page.goto(url);
    await chat.signIn(name);
    return chat;
  }

  async signIn(name: string): Promise<void> {
    const tokenAnswer = this.page.waitForResponse((r) => r.url().endsWith('/api/dev/token'));
    await this.page.getByTestId('signin-name').fill(name);
    await this.page.getByTestId('signin-submit').click();
    const { token } = (await (await tokenAnswer).json()) as { token: string };
    registerToken(token);
    await this.waitForState(/^(connected|resumed)$/);
  }

  get banner(): Locator {
    return this.page.getByTestId('connection');
  }

  async state(): Promise<string> {
    return (await this.banner.getAttribute('data-state')) ?? '';
  }

  async transport(): Promise<string> {
    return (await this.banner.getAttribute('data-transport')) ?? '';
  }

  async socketId(): Promise<string> {
    return (await this.banner.getAttribute('data-socket-id')) ?? '';
  }

  async waitForState(state: RegExp, timeoutMs = 20_000): Promise<void> {
    await waitFor(async () => state.test(await this.state()), {
      timeoutMs,
      what: `the banner in state ${state}`,
    });
  }

  /** Creates a conversation with these members and returns its id (the page opens it). */
  async createConversation(title: string, memberIds: string[]): Promise<string> {
    await this.page.getByTestId('new-title').fill(title);
    await this.page.getByTestId('new-members').fill(memberIds.join(', '));
    await this.page.getByTestId('create').click();
    const active = this.page.getByTestId('active-conversation');
    await waitFor(async () => (await active.getAttribute('data-id')) || undefined, {
      what: 'a new conversation',
    });
    return (await active.getAttribute('data-id'))!;
  }

  async join(conversationId: string): Promise<void> {
    await this.page.getByTestId('join-id').fill(conversationId);
    await this.page.getByTestId('join').click();
    await waitFor(
      async () =>
        (await this.page.getByTestId('active-conversation').getAttribute('data-id')) === conversationId,
      { what: `conversation ${conversationId} open` },
    );
  }

  async send(content: string): Promise<void> {
    await this.page.getByTestId('composer').fill(content);
    await this.page.getByTestId('send').click();
  }

  messages(): Locator {
    return this.page.getByTestId('message');
  }

  /** The open conversation's messages as the page shows them, in page order. */
  async shownMessages(): Promise<{ seq: string; role: string; status: string; content: string }[]> {
    return this.messages().evaluateAll((nodes) =>
      nodes.map((node) => ({
        seq: node.getAttribute('data-seq') ?? '',
        role: node.getAttribute('data-role') ?? '',
        status: node.getAttribute('data-status') ?? '',
        content: node.querySelector('[data-testid=message-content]')?.textContent ?? '',
      })),
    );
  }

  /** Waits until a message with exactly this content is shown with `status`, and returns the shown list. */
  async waitForMessage(content: string, status = 'complete', timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => (await this.shownMessages()).some((m) => m.content === content && m.status === status),
      { timeoutMs, what: `"${content.slice(0, 40)}" shown ${status}` },
    );
  }

  /** Waits until every user message shown has its answer shown complete, and nothing streams. */
  async waitForAllAnswered(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => {
        const shown = await this.shownMessages();
        const answered = shown.filter((m) => m.role === 'assistant' && m.status === 'complete').length;
        return (
          answered === shown.filter((m) => m.role === 'user').length &&
          shown.every((m) => m.status === 'complete')
        );
      },
      { timeoutMs, what: 'every question answered' },
    );
  }

  /** Engine.IO exchanges the server refused, and any that said its session was unknown. */
  refusedEngineRequests(): EngineRequest[] {
    return this.engineRequests.filter((r) => r.status >= 400 || r.body.includes('Session ID unknown'));
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}
