import { type Server, type Socket, connect, createServer } from 'node:net';
import { freePort } from './ports.js';

interface Link {
  client: Socket;
  upstream: Socket;
  /** What the client sent first (ioredis names itself with CLIENT SETNAME right after connecting). */
  hello: string;
  frozen: boolean;
  /** Bytes held while the whole proxy is stalled, in order, delivered on `resume`. */
  held: { to: Socket; chunk: Buffer }[];
}

/**
 * A TCP proxy in front of a real server that can make chosen connections half-open: `freeze` stops
 * forwarding on them in both directions while both sockets stay open, as a dead NAT entry or a
 * silently dropped route would. Connections opened afterwards are forwarded normally. `stall` does it
 * to every connection, new ones included, as a network partition does; `resume` heals it and, as TCP
 * retransmission would, delivers what was sent meanwhile.
 */
export class TcpProxy {
  private readonly links = new Set<Link>();
  private stalled = false;
  private readonly server: Server;

  private constructor(
    readonly port: number,
    targetPort: number,
    targetHost: string,
  ) {
    this.server = createServer((client) => {
      const upstream = connect(targetPort, targetHost);
      const link: Link = { client, upstream, hello: '', frozen: false, held: [] };
      this.links.add(link);
      const forward = (to: Socket, chunk: Buffer) => {
        if (this.stalled) link.held.push({ to, chunk });
        else if (!link.frozen) to.write(chunk);
      };
      client.on('data', (chunk: Buffer) => {
        if (link.hello.length < 512) link.hello += chunk.toString('latin1');
        forward(upstream, chunk);
      });
      upstream.on('data', (chunk: Buffer) => forward(client, chunk));
      const close = () => {
        this.links.delete(link);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
  }

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), targetPort, targetHost);
    await new Promise<void>((resolve) => proxy.server.listen(proxy.port, '127.0.0.1', resolve));
    return proxy;
  }

  /** Freezes every open connection whose first bytes contain `marker`; returns how many. */
  freeze(marker: string): number {
    let frozen = 0;
    for (const link of this.links) {
      if (link.hello.includes(marker)) {
        link.frozen = true;
        frozen++;
      }
    }
    return frozen;
  }

  /** Every connection, open or opened from now on, stops forwarding; nothing is closed or refused. */
  stall(): void {
    this.stalled = true;
  }

  /** Forwarding resumes, starting with every byte held since `stall`, in order. */
  resume(): void {
    this.stalled = false;
    for (const link of this.links) {
      for (const { to, chunk } of link.held.splice(0)) if (!link.frozen) to.write(chunk);
    }
  }

  async stop(): Promise<void> {
    for (const link of this.links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
