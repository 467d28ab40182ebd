import { StickyRouter, parseEngineQuery, parseHandshakeSid } from './sticky-router.js';

function routerWith(...workerIds: number[]): StickyRouter {
  const router = new StickyRouter();
  for (const id of workerIds) router.addWorker(id);
  return router;
}

describe('parseEngineQuery', () => {
  it('reads EIO, sid and transport', () => {
    expect(parseEngineQuery('/socket.io/?EIO=4&transport=polling&t=x&sid=abc-_123')).toEqual({
      engine: true,
      sid: 'abc-_123',
      transport: 'polling',
    });
  });

  it('treats a request without a sid (or with an empty one) as a new session', () => {
    expect(parseEngineQuery('/socket.io/?EIO=4&transport=websocket')).toEqual({
      engine: true,
      sid: undefined,
      transport: 'websocket',
    });
    expect(parseEngineQuery('/socket.io/?EIO=4&transport=polling&sid=').sid).toBeUndefined();
  });

  it('says "not Engine.IO" for other requests and for garbage, without throwing', () => {
    expect(parseEngineQuery('/api/health')).toEqual({ engine: false });
    expect(parseEngineQuery('/api/ready?x=1')).toEqual({ engine: false });
    expect(parseEngineQuery(undefined)).toEqual({ engine: false });
    expect(parseEngineQuery('/?%E0%A4%A=%&&=&EIO')).toMatchObject({ engine: true });
  });
});

describe('parseHandshakeSid', () => {
  it('reads the sid of an Engine.IO v4 and v3 open packet', () => {
    const open = '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000}';
    expect(parseHandshakeSid(`0${open}`)).toBe('lv_VI97HAXpY6yYWAAAC');
    expect(parseHandshakeSid(`${open.length + 1}:0${open}2:40`)).toBe('lv_VI97HAXpY6yYWAAAC');
  });

  it('finds none in an error answer or garbage', () => {
    expect(parseHandshakeSid('{"code":3,"message":"Bad request"}')).toBeUndefined();
    expect(parseHandshakeSid('ok')).toBeUndefined();
    expect(parseHandshakeSid('')).toBeUndefined();
  });
});

describe('StickyRouter', () => {
  it('spreads a burst of new sessions evenly: each is counted the moment it is routed', () => {
    const router = routerWith(1, 2, 3, 4);

    const routed = Array.from({ length: 40 }, () => router.reserve()!.workerId);

    for (const id of [1, 2, 3, 4]) expect(routed.filter((w) => w === id)).toHaveLength(10);
  });

  it('sends no new session to a draining worker, even the emptiest, while its own sessions still reach it', () => {
    const router = routerWith(1, 2);
    router.opened(2, 'sid-old');
    router.opened(2, 'sid-older');
    router.drain(1);

    const routed = Array.from({ length: 5 }, () => router.reserve()!.workerId);

    expect(routed).toEqual([2, 2, 2, 2, 2]);
    router.opened(1, 'sid-draining');
    expect(router.workerFor('sid-draining')).toBe(1);
    router.drain(2);
    expect(router.reserve()).toBeUndefined();
    // A request that opens no session (health, readiness) still finds a worker.
    expect(router.leastLoaded(true)).toBeDefined();
  });

  it('keeps a confirmed session on its worker and counts it there', () => {
    const router = routerWith(1, 2);
    const { workerId, reservation } = router.reserve()!;

    router.confirm(reservation, 'sid-a');

    expect(router.workerFor('sid-a')).toBe(workerId);
    expect(router.load(workerId)).toBe(1);
  });

  it('does not count a session twice when the worker reports it before the answer is read', () => {
    const router = routerWith(1);
    const { reservation } = router.reserve()!;

    router.opened(1, 'sid-a');
    expect(router.load(1)).toBe(2); // the reservation is still pending: overcount, never undercount
    router.confirm(reservation, 'sid-a');

    expect(router.load(1)).toBe(1);
  });

  it('releases a failed handshake once, however often release is called', () => {
    const router = routerWith(1, 2);
    const { workerId, reservation } = router.reserve()!;

    router.release(reservation);
    router.release(reservation);

    expect(router.load(workerId)).toBe(0);
  });

  it('forgets closed sessions and lowers the count', () => {
    const router = routerWith(1);
    router.confirm(router.reserve()!.reservation, 'sid-a');

    router.closed(1, 'sid-a');

    expect(router.workerFor('sid-a')).toBeUndefined();
    expect(router.load(1)).toBe(0);
  });

  it('does not resurrect a session whose close was reported before its handshake answer was read', () => {
    const router = routerWith(1);
    const { reservation } = router.reserve()!;

    router.closed(1, 'sid-a');
    router.confirm(reservation, 'sid-a');

    expect(router.workerFor('sid-a')).toBeUndefined();
    expect(router.load(1)).toBe(0);
  });

  it('forgets a closed sid after a minute', () => {
    let now = 0;
    const router = new StickyRouter(() => now);
    router.addWorker(1);
    router.closed(1, 'sid-old');

    now = 61_000;
    router.closed(1, 'sid-new'); // pruning happens as new closes come in
    router.opened(1, 'sid-old');

    expect(router.workerFor('sid-old')).toBe(1);
  });

  it('drops every session and reservation of a worker that died', () => {
    const router = routerWith(1, 2);
    router.opened(1, 'sid-a');
    router.opened(2, 'sid-b');
    const pending = router.reserve()!;
    expect(pending.workerId).toBe(1); // tie broken in turn; both carry one session

    router.removeWorker(1);
    router.confirm(pending.reservation, 'sid-late');

    expect(router.workerFor('sid-a')).toBeUndefined();
    expect(router.workerFor('sid-late')).toBeUndefined();
    expect(router.workerFor('sid-b')).toBe(2);
    expect(router.workerIds).toEqual([2]);
    expect(router.leastLoaded()).toBe(2);
  });

  it('routes to the least loaded worker and has no one to route to without workers', () => {
    const router = routerWith(1, 2, 3);
    router.opened(1, 'a');
    router.opened(1, 'b');
    router.opened(3, 'c');

    expect(router.leastLoaded()).toBe(2);
    expect(new StickyRouter().leastLoaded()).toBeUndefined();
    expect(new StickyRouter().reserve()).toBeUndefined();
  });

  it('ignores reports for unknown workers', () => {
    const router = routerWith(1);

    router.opened(9, 'sid-x');

    expect(router.workerFor('sid-x')).toBeUndefined();
  });
});
