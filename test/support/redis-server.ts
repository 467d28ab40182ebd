import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { registerSecret } from './log-audit.js';
import { freePort, waitFor } from './ports.js';

export interface RedisServerOptions {
  /** `requirepass`: clients must AUTH with it. */
  password?: string;
  /**
   * An ACL user that `configFile` defines: `url`, `client()` and the start-up probe AUTH as this user
   * with `password`, and no `--requirepass` is passed (the config file owns the users).
   */
  username?: string;
  /** `rename-command` pairs, e.g. `{ CONFIG: '', FLUSHALL: 'FLUSHALL_x9' }` ('' disables the command). */
  renameCommands?: Record<string, string>;
  /** Extra `redis-server` arguments, e.g. `['--maxclients', '100']`. */
  args?: string[];
  /** Start `redis-server` with this config file (the other options are appended as overrides). */
  configFile?: string;
}

const live = new Set<ChildProcess>();
// A crashed or interrupted test run must not leave redis-server processes behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function assertRedisServerOnPath(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error(
      'redis-server was not found on PATH. The tests start their own Redis processes: install it ' +
        '(Debian/Ubuntu: apt-get install redis-server, macOS: brew install redis) and run the tests again.',
    );
  }
}

/**
 * A real `redis-server` on a free loopback port, owned by one test suite: nothing is persisted,
 * and `kill`, `restart`, password and renamed commands are there for the tests that need them.
 */
export class RedisServer {
  private process?: ChildProcess;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    assertRedisServerOnPath();
    // No service may print it (see log-audit.ts).
    registerSecret('Redis password', options.password);
    const server = new RedisServer(await freePort(), options);
    await server.launch();
    return server;
  }

  /** `redis://[[username]:password@]127.0.0.1:port`, as the service takes it. */
  get url(): string {
    const user = this.options.username ? encodeURIComponent(this.options.username) : '';
    const auth = this.options.password ? `${user}:${encodeURIComponent(this.options.password)}@` : '';
    return `redis://${auth}127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.process !== undefined && this.process.exitCode === null && this.process.signalCode === null;
  }

  /** A fresh client for assertions; the caller quits it. */
  client(): Redis {
    return new Redis(this.port, '127.0.0.1', {
      username: this.options.username,
      password: this.options.password,
      lazyConnect: false,
    });
  }

  private async launch(): Promise<void> {
    const args = [
      ...(this.options.configFile ? [this.options.configFile] : []),
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
      ...(this.options.password && !this.options.username ? ['--requirepass', this.options.password] : []),
      ...Object.entries(this.options.renameCommands ?? {}).flatMap(([command, to]) => [
        '--rename-command',
        command,
        to,
      ]),
      ...(this.options.args ?? []),
    ];
    this.output = '';
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.process = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    await waitFor(
      async () => {
        if (!this.running) throw new Error(`redis-server exited: ${this.output.trim()}`);
        const probe = new Redis(this.port, '127.0.0.1', {
          username: this.options.username,
          password: this.options.password,
          lazyConnect: true,
          retryStrategy: () => null,
          maxRetriesPerRequest: 0,
        });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG';
        } finally {
          probe.disconnect();
        }
      },
      { timeoutMs: 10_000, what: `redis-server on port ${this.port}` },
    );
  }

  /** SIGKILL: the server vanishes without a goodbye, as in a crash. */
  async kill(): Promise<void> {
    await this.stopWith('SIGKILL');
  }

  /** Starts again on the same port with the same options (nothing was persisted). */
  async restart(): Promise<void> {
    if (this.running) await this.stopWith('SIGKILL');
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.stopWith('SIGTERM');
  }

  private async stopWith(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }
}
