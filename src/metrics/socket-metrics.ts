import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DisconnectReason, Namespace, Server } from 'socket.io';
import type { ClientToServerEvents, ErrorCode, ServerToClientEvents } from '../chat/chat.events.js';
import { CHAT_NAMESPACE } from '../redis/redis-keys.js';

/** Engine.IO's `Server.errors.UNKNOWN_SID`: 400 "Session ID unknown" for a session held elsewhere. */
const UNKNOWN_SID = 1;
/** The label value of anything outside the known sets below, so no client can mint new series. */
const UNKNOWN = 'unknown';

// The known label values, checked against the wire's types at compile time.
const CLIENT_EVENTS: Record<keyof ClientToServerEvents, true> = {
  'conversation:create': true,
  'conversation:join': true,
  'conversation:leave': true,
  'conversation:sync': true,
  'message:send': true,
  typing: true,
  'auth:refresh': true,
  'answer:cancel': true,
};
const SERVER_EVENTS: Record<keyof ServerToClientEvents, true> = {
  'message:new': true,
  'message:delta': true,
  'message:done': true,
  'message:error': true,
  typing: true,
};
const ERROR_CODES: Record<ErrorCode, true> = {
  VALIDATION_FAILED: true,
  UNAUTHORIZED: true,
  FORBIDDEN: true,
  NOT_FOUND: true,
  RATE_LIMITED: true,
  LLM_UNAVAILABLE: true,
  INTERNAL: true,
};
const DISCONNECT_REASONS: Record<DisconnectReason, true> = {
  'transport error': true,
  'transport close': true,
  'forced close': true,
  'ping timeout': true,
  'parse error': true,
  'server shutting down': true,
  'forced server close': true,
  'client namespace disconnect': true,
  'server namespace disconnect': true,
};

/** An ack's `code` label: `ok`, a known error code, or `unknown`. */
export function ackCode(response: unknown): string {
  const ack = response as { ok?: unknown; error?: { code?: unknown } } | null | undefined;
  if (ack?.ok === true) return 'ok';
  const code = ack?.error?.code;
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code) ? code : UNKNOWN;
}

/** A plain number added to prom-client at scrape time: a child's `inc()` hashes its labels per call. */
class BufferedCount {
  private pending = 0;
  constructor(private readonly child: Counter.Internal) {}

  inc(): void {
    this.pending++;
  }

  flush(): void {
    if (this.pending === 0) return;
    this.child.inc(this.pending);
    this.pending = 0;
  }
}

/** The prom-client children of one client event, resolved once (labels(...) hashes on each call). */
interface EventInstruments {
  event: string;
  received: BufferedCount;
  duration: Histogram.Internal<'event'>;
  acks: Map<string, Counter.Internal>;
}

type AckFn = (...args: unknown[]) => void;

/** Socket.IO metrics, measured at the server; no label object is built on the hot path. */
@Injectable()
export class SocketMetrics {
  readonly connected: Gauge;
  readonly connections: Counter;
  readonly disconnections: Counter<'reason'>;
  readonly eventsReceived: Counter<'event'>;
  readonly eventsSent: Counter<'event'>;
  readonly acks: Counter<'event' | 'code'>;
  readonly handlerDuration: Histogram<'event'>;
  readonly deliveryDelay: Histogram;
  readonly adapterErrors: Counter;
  readonly unknownSessions: Counter;

  private namespace?: Namespace;
  private readonly clientEvents = new Map<string, EventInstruments>();
  private readonly unknownClientEvent: EventInstruments;
  private readonly sentByEvent = new Map<string, BufferedCount>();
  private readonly sentUnknown: BufferedCount;
  /** Every BufferedCount, flushed by the counters' `collect` before a scrape reads them. */
  private readonly buffered: BufferedCount[] = [];
  private readonly disconnectsByReason = new Map<string, Counter.Internal>();
  private readonly disconnectsUnknown: Counter.Internal;
  /** The last `message:new` payload timed: one broadcast hands the same object to every local socket. */
  private lastDelivered?: unknown;

  constructor(registry: Registry) {
    const registers = [registry];
    this.connected = new Gauge({
      name: 'chat_connected_sockets',
      help: 'Sockets connected to /chat on this process',
      registers,
      collect: () => this.connected.set(this.namespace?.sockets.size ?? 0),
    });
    this.connections = new Counter({
      name: 'chat_connections_total',
      help: 'Sockets accepted on /chat (authenticated handshakes)',
      registers,
    });
    this.disconnections = new Counter({
      name: 'chat_disconnections_total',
      help: "Sockets disconnected from /chat, by Socket.IO's disconnect reason",
      labelNames: ['reason'],
      registers,
    });
    this.eventsReceived = new Counter({
      name: 'chat_events_received_total',
      help: 'Client-to-server events received on /chat, by event (unknown: not an event of the contract)',
      labelNames: ['event'],
      registers,
      collect: () => this.flushBuffered(),
    });
    this.eventsSent = new Counter({
      name: 'chat_events_sent_total',
      help: 'Server-to-client events written to sockets of this process, by event (one per receiving socket)',
      labelNames: ['event'],
      registers,
      collect: () => this.flushBuffered(),
    });
    this.acks = new Counter({
      name: 'chat_acks_total',
      help: 'Acknowledgements sent, by event and code (ok, or the error code of { ok: false, error: { code } })',
      labelNames: ['event', 'code'],
      registers,
    });
    this.handlerDuration = new Histogram({
      name: 'chat_event_handler_duration_seconds',
      help: 'From an event arriving to its acknowledgement being sent, by event',
      labelNames: ['event'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.deliveryDelay = new Histogram({
      name: 'chat_message_delivery_seconds',
      help:
        "From a message's createdAt (stored by the database) to this process emitting message:new for it " +
        "to its own sockets; across workers and pods this includes the Redis adapter's pub/sub hop",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.adapterErrors = new Counter({
      name: 'chat_adapter_errors_total',
      help: "Errors emitted by the Socket.IO adapter of /chat (its 'error' event)",
      registers,
    });
    this.unknownSessions = new Counter({
      name: 'engineio_session_id_unknown_total',
      help:
        "Engine.IO requests naming a session this process does not hold (400 'Session ID unknown'). " +
        'A steady rise means requests of one polling session reach different processes: the load ' +
        'balancer is not sticky (use cookie affinity, or websocket-only clients)',
      registers,
    });

    for (const event of [...Object.keys(CLIENT_EVENTS), UNKNOWN]) {
      this.clientEvents.set(event, {
        event,
        received: this.bufferedChild(this.eventsReceived, event),
        duration: this.handlerDuration.labels(event),
        acks: new Map(),
      });
    }
    this.unknownClientEvent = this.clientEvents.get(UNKNOWN)!;
    this.clientEvents.delete(UNKNOWN);
    for (const event of Object.keys(SERVER_EVENTS))
      this.sentByEvent.set(event, this.bufferedChild(this.eventsSent, event));
    this.sentUnknown = this.bufferedChild(this.eventsSent, UNKNOWN);
    for (const reason of Object.keys(DISCONNECT_REASONS))
      this.disconnectsByReason.set(reason, this.disconnections.labels(reason));
    this.disconnectsUnknown = this.disconnections.labels(UNKNOWN);
  }

  private bufferedChild(counter: Counter<'event'>, event: string): BufferedCount {
    const count = new BufferedCount(counter.labels(event));
    this.buffered.push(count);
    return count;
  }

  private flushBuffered(): void {
    for (const count of this.buffered) count.flush();
  }

  /** Call once, after the adapter is set (this creates the `/chat` namespace). */
  instrument(server: Server): void {
    const namespace = server.of(CHAT_NAMESPACE);
    this.namespace = namespace;
    namespace.adapter.on('error', () => this.adapterErrors.inc());
    server.engine.on('connection_error', (error: { code?: unknown }) => {
      if (error.code === UNKNOWN_SID) this.unknownSessions.inc();
    });
    namespace.on('connection', (socket) => {
      this.connections.inc();
      // Shared listeners: nothing is allocated per socket.
      socket.use(this.onEvent);
      socket.onAnyOutgoing(this.onOutgoing);
      socket.on('disconnect', this.onDisconnect);
    });
  }

  /** Socket middleware: counts the event and, when it carries an ack (the last argument), times it. */
  private readonly onEvent = (packet: unknown[], next: (error?: Error) => void): void => {
    const instruments = this.clientEvents.get(packet[0] as string) ?? this.unknownClientEvent;
    instruments.received.inc();
    const last = packet.length - 1;
    const ack = packet[last];
    if (last > 0 && typeof ack === 'function') packet[last] = this.timedAck(instruments, ack as AckFn);
    next();
  };

  private timedAck(instruments: EventInstruments, ack: AckFn): AckFn {
    const started = performance.now();
    let answered = false;
    return (...args: unknown[]) => {
      if (!answered) {
        answered = true;
        instruments.duration.observe((performance.now() - started) / 1000);
        this.ackCounter(instruments, ackCode(args[0])).inc();
      }
      ack(...args);
    };
  }

  private ackCounter(instruments: EventInstruments, code: string): Counter.Internal {
    let counter = instruments.acks.get(code);
    if (!counter) {
      counter = this.acks.labels(instruments.event, code);
      instruments.acks.set(code, counter);
    }
    return counter;
  }

  /** Every packet written, broadcasts included; a message's delivery is timed once per process. */
  private readonly onOutgoing = (event: unknown, payload: unknown): void => {
    (this.sentByEvent.get(event as string) ?? this.sentUnknown).inc();
    if (event !== 'message:new' || payload === this.lastDelivered) return;
    this.lastDelivered = payload;
    const createdAt = Date.parse((payload as { createdAt?: string } | undefined)?.createdAt ?? '');
    // Clocks of different hosts may disagree a little: a message never arrives before it was made.
    if (!Number.isNaN(createdAt)) this.deliveryDelay.observe(Math.max(0, Date.now() - createdAt) / 1000);
  };

  private readonly onDisconnect = (reason: string): void => {
    (this.disconnectsByReason.get(reason) ?? this.disconnectsUnknown).inc();
  };
}
