import type { Ack, ChatSocket } from './chat.events.js';

/**
 * Events one socket may send at once, and per second after that. Far above a person's pace (the
 * per-user rate limit allows 100 events per 30 s across all sockets), so only a flood ever meets it.
 */
const SOCKET_EVENT_BURST = 60;
const SOCKET_EVENTS_PER_SECOND = 10;
/** How long a flooding WebSocket is not read: its further frames wait in the kernel, costing nothing here. */
const FLOOD_PAUSE_MS = 1000;

const RATE_LIMITED: Ack = {
  ok: false,
  error: { code: 'RATE_LIMITED', message: 'Too many events on this connection; slow down' },
};

/** The `ws` socket under an Engine.IO WebSocket transport, when that is the transport in use. */
interface PausableTransport {
  name?: string;
  socket?: { pause?: () => void; resume?: () => void };
}

/**
 * Guards one socket against event floods, before any decoding past Socket.IO's own: a token bucket
 * (hand-written: it must be synchronous and per socket, where the library limiters are asynchronous and
 * keyed). An event past the budget is answered RATE_LIMITED at once, without validation, storage or
 * Redis; a WebSocket that goes on is not read for a second (TCP backpressure holds the sender).
 */
export function guardAgainstFloods(socket: ChatSocket): void {
  let tokens = SOCKET_EVENT_BURST;
  let refilledAt = performance.now();
  let paused = false;
  socket.use((packet, next) => {
    const now = performance.now();
    tokens = Math.min(SOCKET_EVENT_BURST, tokens + ((now - refilledAt) / 1000) * SOCKET_EVENTS_PER_SECOND);
    refilledAt = now;
    if (tokens >= 1) {
      tokens--;
      return next();
    }
    const ack = packet[packet.length - 1];
    if (typeof ack === 'function') (ack as (response: Ack) => void)(RATE_LIMITED);
    const transport = socket.conn.transport as unknown as PausableTransport;
    const ws = transport.name === 'websocket' ? transport.socket : undefined;
    if (paused || !ws?.pause || !ws.resume) return;
    paused = true;
    ws.pause();
    setTimeout(() => {
      paused = false;
      ws.resume?.();
    }, FLOOD_PAUSE_MS).unref();
  });
}
