import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { io, type Socket } from 'socket.io-client';
import { registerSecret, type SecretKind } from './log-audit.js';

/** The admin UI's login for a test: a random password and its bcrypt hash (cost 10, the lowest allowed). */
export interface AdminLogin {
  username: string;
  password: string;
  hash: string;
}

/**
 * A fresh login, registered with the log audit: no service may print the password, nor the hash (an
 * offline brute-force target). The kinds are outside log-audit.ts's list, which only names the rest.
 */
export function adminLogin(username = 'admin'): AdminLogin {
  const password = randomBytes(12).toString('base64url');
  const hash = bcrypt.hashSync(password, 10);
  registerSecret('admin UI password' as string as SecretKind, password);
  registerSecret('admin UI password hash' as string as SecretKind, hash);
  return { username, password, hash };
}

/** What the admin UI frontend hears from the server (@socket.io/admin-ui's server-to-UI events). */
export interface AdminSession {
  socket: Socket;
  /** The `session` id sent after a password login (a bearer credential: registered with the audit). */
  sessionId?: string;
  features: string[];
  /** `all_sockets` (development mode only): every socket of every worker, from fetchSockets(). */
  allSockets: { id: string; nsp: string; handshake: unknown; data: unknown }[];
  /** Every `server_stats` received, one per worker every 2 s. */
  stats: { serverId: string; pid: number; namespaces: { name: string; socketsCount: number }[] }[];
}

/**
 * Connects to `/admin` as the UI does (polling first, `auth` = login or `{ sessionId }`) and resolves
 * once `config` has arrived (and `all_sockets` in development mode); rejects with the connect_error.
 */
export function connectAdmin(
  baseUrl: string,
  auth: Record<string, unknown>,
  { expectAllSockets = true } = {},
): Promise<AdminSession> {
  const socket = io(`${baseUrl}/admin`, { auth, reconnection: false, forceNew: true, timeout: 10_000 });
  const session: AdminSession = { socket, features: [], allSockets: [], stats: [] };
  socket.on('server_stats', (stats: AdminSession['stats'][number]) => session.stats.push(stats));
  socket.on('session', (id: string) => {
    registerSecret('admin UI session id' as string as SecretKind, id);
    session.sessionId = id;
  });
  return new Promise((resolve, reject) => {
    let pending = expectAllSockets ? 2 : 1;
    const done = () => --pending === 0 && resolve(session);
    socket.once('config', ({ supportedFeatures }: { supportedFeatures: string[] }) => {
      session.features = supportedFeatures;
      done();
    });
    socket.once('all_sockets', (sockets: AdminSession['allSockets']) => {
      session.allSockets = sockets;
      done();
    });
    socket.once('connect_error', (error) => {
      socket.close();
      reject(error);
    });
  });
}
