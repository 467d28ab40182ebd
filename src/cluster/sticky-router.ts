/**
 * The primary's routing table, free of I/O. A worker's load counts reservations (new sessions routed
 * but not yet answered), so a burst of new clients does not all go to one "least loaded" worker.
 */

/** How long a sid that closed before its handshake answer was parsed stays remembered. */
const CLOSED_SID_MEMORY_MS = 60_000;

export interface EngineRequestInfo {
  /** The request carries Engine.IO's `EIO` query parameter (Socket.IO traffic). */
  engine: boolean;
  sid?: string;
  transport?: string;
}

/** Reads `EIO`, `sid` and `transport` from a request URL. Never throws, whatever the URL holds. */
export function parseEngineQuery(url: string | undefined): EngineRequestInfo {
  const queryStart = url?.indexOf('?') ?? -1;
  if (!url || queryStart < 0) return { engine: false };
  const query = new URLSearchParams(url.slice(queryStart + 1));
  const engine = query.has('EIO');
  if (!engine) return { engine };
  return {
    engine,
    sid: query.get('sid') || undefined,
    transport: query.get('transport') || undefined,
  };
}

/** The sid of an Engine.IO polling handshake answer (v4 `0{…}`, v3 `96:0{…}`), or undefined. */
export function parseHandshakeSid(body: string): string | undefined {
  const open = body.indexOf('0{');
  if (open < 0) return undefined;
  const match = /"sid":"([^"\\]{1,128})"/.exec(body.slice(open));
  return match?.[1];
}

interface WorkerState {
  sessions: Set<string>;
  reservations: number;
  /** Shutting down: keeps its sessions until they close, takes no new one. */
  draining?: boolean;
}

export class StickyRouter {
  private readonly workers = new Map<number, WorkerState>();
  private readonly sidToWorker = new Map<string, number>();
  private readonly reservations = new Map<number, number>();
  /** sid -> when its close was reported: a late handshake answer must not bring it back. */
  private readonly closedSids = new Map<string, number>();
  private nextReservation = 1;
  /** Where the next tie-break starts, so equally loaded workers take turns. */
  private rotation = 0;

  constructor(private readonly now: () => number = Date.now) {}

  get workerIds(): number[] {
    return [...this.workers.keys()];
  }

  addWorker(id: number): void {
    if (!this.workers.has(id)) this.workers.set(id, { sessions: new Set(), reservations: 0 });
  }

  /** A worker that died: its sessions and reservations go with it. */
  removeWorker(id: number): void {
    const state = this.workers.get(id);
    if (!state) return;
    for (const sid of state.sessions) this.sidToWorker.delete(sid);
    for (const [reservation, workerId] of this.reservations) {
      if (workerId === id) this.reservations.delete(reservation);
    }
    this.workers.delete(id);
  }

  /** A worker that began its shutdown: its sessions still reach it, new ones go elsewhere. */
  drain(id: number): void {
    const state = this.workers.get(id);
    if (state) state.draining = true;
  }

  /** Open sessions plus reservations; 0 for an unknown worker. */
  load(id: number): number {
    const state = this.workers.get(id);
    return state ? state.sessions.size + state.reservations : 0;
  }

  workerFor(sid: string): number | undefined {
    return this.sidToWorker.get(sid);
  }

  /** Least loaded non-draining worker, ties in turn; `includeDraining` for requests that open no session. */
  leastLoaded(includeDraining = false): number | undefined {
    const ids = this.workerIds.filter((id) => includeDraining || !this.workers.get(id)?.draining);
    if (ids.length === 0) return undefined;
    const start = this.rotation++ % ids.length;
    let best: number | undefined;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[(start + i) % ids.length];
      if (best === undefined || this.load(id) < this.load(best)) best = id;
    }
    return best;
  }

  /** Routes a new session to the least loaded worker and counts it there at once. */
  reserve(): { workerId: number; reservation: number } | undefined {
    const workerId = this.leastLoaded();
    if (workerId === undefined) return undefined;
    const reservation = this.nextReservation++;
    this.reservations.set(reservation, workerId);
    this.workers.get(workerId)!.reservations++;
    return { workerId, reservation };
  }

  /** Drops a reservation whose handshake failed. Safe to repeat, and after the worker died. */
  release(reservation: number): void {
    const workerId = this.reservations.get(reservation);
    if (workerId === undefined) return;
    this.reservations.delete(reservation);
    const state = this.workers.get(workerId);
    if (state) state.reservations--;
  }

  /** The handshake answer named `sid`: the reservation becomes that session. */
  confirm(reservation: number, sid: string): void {
    const workerId = this.reservations.get(reservation);
    if (workerId === undefined) return;
    this.release(reservation);
    this.opened(workerId, sid);
  }

  /** A worker reports a session it opened (idempotent with `confirm`). */
  opened(workerId: number, sid: string): void {
    const state = this.workers.get(workerId);
    if (!state || this.closedSids.has(sid) || this.sidToWorker.has(sid)) return;
    state.sessions.add(sid);
    this.sidToWorker.set(sid, workerId);
  }

  closed(workerId: number, sid: string): void {
    const state = this.workers.get(workerId);
    if (this.sidToWorker.get(sid) === workerId) {
      this.sidToWorker.delete(sid);
      state?.sessions.delete(sid);
      return;
    }
    // Closed before its handshake answer was read: remember it so that answer does not resurrect it.
    const now = this.now();
    this.closedSids.set(sid, now);
    for (const [closedSid, at] of this.closedSids) {
      if (now - at < CLOSED_SID_MEMORY_MS) break;
      this.closedSids.delete(closedSid);
    }
  }
}
