// The Socket.IO connection to /chat, its token refresh, and the connection banner.
// Catch-up after every reconnect is delegated to `hooks.onConnect`, which the banner waits for before "resumed".
import type { Socket } from 'socket.io-client';
import { fetchToken, saveSession } from './api.js';
import type { Ack, Session } from './types.js';

declare global {
  const io: typeof import('socket.io-client').io;
}

export type ConnectionState = 'signed-out' | 'connecting' | 'connected' | 'reconnecting' | 'resumed';

export interface ConnectionHooks {
  /** Registers the server -> client listeners on the one socket this connection owns. */
  bind(socket: Socket): void;
  /** Runs after every connect; on a reconnect it re-joins and syncs, returning the pages it fetched. */
  onConnect(reconnect: boolean, isCurrent: () => boolean): Promise<number>;
  onDisconnect(): void;
  /** The token is refused and no fresh one can be had (pasted token, or sign-in now refused). */
  onAuthLost(message: string): void;
  notice(message: string): void;
}

const ACK_TIMEOUT_MS = 10_000;
const RETRY_DELAY_MS = 3_000;
/** Consecutive refusals of a freshly minted token before giving up (avoids a sign-in loop). */
const MAX_AUTH_FAILURES = 3;
/** A token is renewed this long before it expires, with `auth:refresh`, so the socket is never cut. */
const RENEW_BEFORE_MS = 60_000;

export class Connection {
  readonly socket: Socket;
  private state: ConnectionState = 'connecting';
  private transport = '';
  private reconnects = 0;
  private syncPages = 0;
  private everConnected = false;
  /** Bumped on every connect and disconnect, so a catch-up that outlives its socket stops touching the banner. */
  private generation = 0;
  private authFailures = 0;
  private refreshing = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private renewTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Disconnected on purpose while the browser is offline; 'online' connects again. */
  private paused = false;

  constructor(
    private session: Session,
    private readonly hooks: ConnectionHooks,
    private readonly banner: HTMLElement,
    transports?: ('polling' | 'websocket')[],
  ) {
    this.socket = io('/chat', {
      path: '/socket.io',
      auth: { token: session.token },
      ...(transports ? { transports } : {}),
    });
    // The manager builds a new engine for every reconnection attempt, so the upgrade listener goes on each one.
    this.socket.io.on('open', () => {
      const engine = this.socket.io.engine;
      this.setTransport(engine.transport.name);
      engine.on('upgrade', (transport: { name: string }) => this.setTransport(transport.name));
    });
    this.socket.on('connect', () => void this.connected());
    this.socket.on('disconnect', (reason) => this.disconnected(reason));
    this.socket.on('connect_error', (error) => this.connectFailed(error));
    window.addEventListener('online', this.wentOnline);
    window.addEventListener('offline', this.wentOffline);
    hooks.bind(this.socket);
    this.renderBanner();
  }

  /** Emits with an ack; a timeout or a disconnect becomes an error ack so callers handle one shape. */
  async request<T extends object = object>(event: string, payload: object): Promise<Ack<T>> {
    try {
      return (await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload)) as Ack<T>;
    } catch {
      const code = this.socket.connected ? 'TIMEOUT' : 'DISCONNECTED';
      const message = this.socket.connected ? 'The server did not answer in time.' : 'Not connected.';
      return { ok: false, error: { code, message } };
    }
  }

  get userSession(): Session {
    return this.session;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.renewTimer);
    window.removeEventListener('online', this.wentOnline);
    window.removeEventListener('offline', this.wentOffline);
    this.socket.removeAllListeners();
    this.socket.io.removeAllListeners();
    this.socket.disconnect();
    renderSignedOut(this.banner);
  }

  private async connected(): Promise<void> {
    const generation = ++this.generation;
    const isCurrent = () => generation === this.generation && !this.closed;
    this.authFailures = 0;
    this.scheduleRenewal();
    this.transport = this.socket.io.engine.transport.name;
    const reconnect = this.everConnected;
    this.everConnected = true;
    if (reconnect) this.reconnects += 1;
    this.setState(reconnect ? 'reconnecting' : 'connected');
    const pages = await this.hooks.onConnect(reconnect, isCurrent);
    if (!reconnect || !isCurrent()) return;
    this.syncPages = pages;
    this.setState('resumed');
  }

  /**
   * The browser lost its network: the connection is dead even if no ping has timed out yet, and attempts to
   * reconnect would only fail (each one a console error), so the socket waits for the 'online' event.
   */
  private readonly wentOffline = (): void => {
    this.paused = true;
    this.socket.disconnect();
    this.setState(this.everConnected ? 'reconnecting' : 'connecting');
  };

  private readonly wentOnline = (): void => {
    if (!this.paused) return;
    this.paused = false;
    this.socket.connect();
    this.renderBanner();
  };

  private disconnected(reason: string): void {
    this.generation += 1;
    if (this.closed) return;
    this.transport = '';
    this.setState(this.everConnected ? 'reconnecting' : 'connecting');
    this.hooks.onDisconnect();
    // The server disconnects on token expiry; the client does not reconnect by itself after that.
    if (reason === 'io server disconnect' && !this.paused) void this.refreshAndConnect();
  }

  private connectFailed(error: Error): void {
    if (this.closed) return;
    if (error.message === 'unauthorized') {
      void this.refreshAndConnect();
    } else if (!this.socket.active) {
      // Refused by the middleware for another reason (e.g. too_many_connections): try again later.
      this.hooks.notice(`Connection refused: ${error.message}. Retrying…`);
      this.scheduleConnect();
    }
  }

  private async refreshAndConnect(): Promise<void> {
    if (this.refreshing || this.closed) return;
    const name = this.session.signInName;
    if (!name || ++this.authFailures > MAX_AUTH_FAILURES) {
      this.hooks.onAuthLost('The server refused the token. Sign in again or paste a new token.');
      return;
    }
    this.refreshing = true;
    const result = await fetchToken(name).finally(() => (this.refreshing = false));
    if (this.closed) return;
    if (result.ok) {
      this.session = result.session;
      saveSession(result.session);
      this.socket.auth = { token: result.session.token };
      this.socket.connect();
    } else if (result.status === 0 || result.status >= 500) {
      this.authFailures -= 1;
      this.scheduleConnect(true);
    } else {
      this.hooks.onAuthLost(result.message);
    }
  }

  /** Before the token expires: a new one from the sign-in, handed over without reconnecting. */
  private scheduleRenewal(): void {
    clearTimeout(this.renewTimer);
    const name = this.session.signInName;
    if (!name || !this.session.expiresAt) return; // a pasted token: renewed by signing in again
    const delay = Math.max(this.session.expiresAt * 1000 - Date.now() - RENEW_BEFORE_MS, 1000);
    this.renewTimer = setTimeout(() => void this.renew(name), delay);
  }

  private async renew(name: string): Promise<void> {
    if (this.closed || !this.socket.connected) return;
    const result = await fetchToken(name);
    if (!result.ok) return; // the server cuts the socket at expiry, and refreshAndConnect takes over
    const ack = await this.request<{ expiresAt: number }>('auth:refresh', { token: result.session.token });
    if (!ack.ok) return;
    this.session = result.session;
    saveSession(result.session);
    // A reconnection later hands over the new token too.
    this.socket.auth = { token: result.session.token };
    this.scheduleRenewal();
  }

  private scheduleConnect(refresh = false): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.closed || this.paused || this.socket.connected) return;
      if (refresh) void this.refreshAndConnect();
      else this.socket.connect();
    }, RETRY_DELAY_MS);
  }

  private setTransport(name: string): void {
    this.transport = name;
    this.renderBanner();
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    this.renderBanner();
  }

  private readonly renderBanner = (): void => {
    const { banner, state } = this;
    const connected = this.socket.connected;
    const transport = connected ? this.transport : '';
    banner.dataset.state = state;
    banner.dataset.transport = transport;
    banner.dataset.socketId = connected ? (this.socket.id ?? '') : '';
    banner.dataset.reconnects = String(this.reconnects);
    banner.dataset.syncPages = String(this.syncPages);
    banner.dataset.offline = String(this.paused);
    const via = transport ? ` · ${transport}` : '';
    let text: string;
    if (state === 'connecting') text = 'Connecting…';
    else if (state === 'connected') text = `Connected${via}`;
    else if (state === 'reconnecting' && this.paused) text = 'Offline · waiting for the network…';
    else if (state === 'reconnecting')
      text = connected ? `Reconnected${via} · catching up…` : 'Reconnecting…';
    else if (state === 'resumed') text = `Resumed · caught up (${plural(this.syncPages, 'page')})${via}`;
    else text = 'Signed out';
    banner.textContent = text;
  };
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

export function renderSignedOut(banner: HTMLElement): void {
  Object.assign(banner.dataset, { state: 'signed-out', transport: '', socketId: '', reconnects: '0' });
  banner.dataset.syncPages = '0';
  delete banner.dataset.offline;
  banner.textContent = 'Signed out';
}
