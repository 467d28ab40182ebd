import type { Ack, ChatSocket } from './chat.events.js';

/** Events one socket may send at once, then per second: far above a person's pace, met only by a flood. */
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
 * A synchronous token bucket per socket, before any decoding: past it an event is answered RATE_LIMITED
 * without validation, storage or Redis, and a WebSocket is not read for FLOOD_PAUSE_MS
 * (docs/decisions/0009-per-socket-flood-guard.md).
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
