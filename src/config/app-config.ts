/** The validated configuration, one typed namespace per concern. Built once at boot by `loadConfig`. */
export interface HostPort {
  host: string;
  port: number;
}

export interface ServerConfig {
  nodeEnv: 'development' | 'production' | 'test';
  host: string;
  port: number;
  /** Resolved worker count: `auto` has become the number of CPUs. */
  workers: number;
  shutdownGraceMs: number;
  /** SIGTERM: readiness 503 for this long before the sockets are closed (load balancer catch-up). */
  shutdownDrainDelayMs: number;
  /** Client connections one process keeps open at once (MAX_HTTP_CONNECTIONS). */
  maxHttpConnections: number;
  /** Serve the demo chat page at `/` (DEMO_UI; default: on unless production). */
  demoUi: boolean;
  /** Liveness-only port (PROBE_PORT); unset: liveness is on PORT only. */
  probePort?: number;
}

export interface RedisConfig {
  enabled: boolean;
  mode: 'standalone' | 'sentinel' | 'cluster';
  /** Standalone target; in sentinel/cluster mode only its credentials and TLS flag are used. */
  url?: string;
  db: number;
  sentinels: HostPort[];
  sentinelName?: string;
  clusterNodes: HostPort[];
  keyPrefix: string;
  sessionTtlSeconds: number;
}

export interface DatabaseConfig {
  type: 'sqlite' | 'postgres';
  /** The file path for SQLite, the connection URL for PostgreSQL. */
  location: string;
}

export interface OllamaConfig {
  url: string;
  model: string;
  required: boolean;
  /** Longest wait for Ollama's response headers (model loading included). */
  connectTimeoutMs: number;
  /** Longest silence between two chunks of a streaming answer. */
  idleTimeoutMs: number;
  /** Whether user messages get assistant answers at all (ASSISTANT_ENABLED). */
  assistantEnabled: boolean;
}

export interface StorageConfig {
  dir: string;
}

export interface SecurityConfig {
  jwtSecret?: string;
  /** Empty means "not configured" (development only); `['*']` means any origin. */
  corsOrigins: string[];
  /** Live sockets per user across all workers and instances (MAX_CONNECTIONS_PER_USER). */
  maxConnectionsPerUser: number;
}

/** The Socket.IO admin UI (`@socket.io/admin-ui`); absent when ADMIN_UI_USERNAME/ADMIN_UI_PASSWORD_HASH are unset. */
export interface AdminUiConfig {
  username: string;
  /** bcrypt; a secret all the same (it can be brute-forced offline): never logged. */
  passwordHash: string;
  /** No join, leave or disconnect from the UI (ADMIN_UI_READONLY, default true). */
  readonly: boolean;
  /** `production` (NODE_ENV=production): server stats only; `development`: every socket and event too. */
  mode: 'production' | 'development';
}

export interface AppConfig {
  server: ServerConfig;
  redis: RedisConfig;
  database: DatabaseConfig;
  ollama: OllamaConfig;
  storage: StorageConfig;
  security: SecurityConfig;
  adminUi?: AdminUiConfig;
}
