import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort, waitFor } from './ports.js';

const CONFIG = resolve(process.cwd(), 'config/haproxy/haproxy.cfg');

/**
 * Debian's `haproxy` running the repository's own config/haproxy/haproxy.cfg in the foreground, in
 * front of two local instances (its APP1_ADDR/APP2_ADDR/FRONTEND_ADDR variables), on a free port.
 */
export class HaProxy {
  output = '';

  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  static async start(app1Port: number, app2Port: number, { maxConnections = 2000 } = {}): Promise<HaProxy> {
    const port = await freePort();
    const child = spawn('haproxy', ['-db', '-f', CONFIG], {
      env: {
        PATH: process.env.PATH ?? '',
        FRONTEND_ADDR: `127.0.0.1:${port}`,
        APP1_ADDR: `127.0.0.1:${app1Port}`,
        APP2_ADDR: `127.0.0.1:${app2Port}`,
        // Within this machine's descriptor limit (the file's default is sized for compose).
        HAPROXY_MAXCONN: String(maxConnections),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proxy = new HaProxy(port, child);
    child.once('error', (error) => (proxy.output += `spawn error: ${error.message}`));
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`haproxy exited:\n${proxy.output}`);
        return (await fetch(`${proxy.baseUrl}/api/health`).catch(() => undefined))?.status === 200;
      },
      { timeoutMs: 15_000, what: 'haproxy' },
    );
    return proxy;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((done) => this.child.once('exit', done));
    this.child.kill('SIGTERM');
    await exited;
  }
}
