import { jest } from '@jest/globals';
import { DeltaBatcher } from './delta-batcher.js';

describe('DeltaBatcher', () => {
  let sent: string[];
  let batcher: DeltaBatcher;

  beforeEach(() => {
    jest.useFakeTimers();
    sent = [];
    batcher = new DeltaBatcher(50, 10, async (delta) => void sent.push(delta));
  });

  afterEach(() => jest.useRealTimers());

  it('sends the first token at once and the tokens of each interval together', async () => {
    await batcher.push('a');
    await batcher.push('b');
    await batcher.push('c');
    expect(sent).toEqual(['a']);

    await jest.advanceTimersByTimeAsync(50);
    expect(sent).toEqual(['a', 'bc']);

    await batcher.push('d');
    expect(sent).toEqual(['a', 'bc']);
    await batcher.end();
    expect(sent).toEqual(['a', 'bc', 'd']);
  });

  it('sends at once a delta that reaches the size limit', async () => {
    await batcher.push('a');
    await batcher.push('12345');
    await batcher.push('67890');
    expect(sent).toEqual(['a', '1234567890']);
  });

  it('sends at once when the interval has passed since the last delta', async () => {
    await batcher.push('a');
    jest.advanceTimersByTime(60);
    await batcher.push('b');
    expect(sent).toEqual(['a', 'b']);
  });

  it('sends one delta at a time, in order, even when a send is slow', async () => {
    let release!: () => void;
    const order: string[] = [];
    const slow = new DeltaBatcher(50, 10, async (delta) => {
      if (delta === 'a') await new Promise<void>((resolve) => (release = resolve));
      order.push(delta);
    });
    const first = slow.push('a');
    await jest.advanceTimersByTimeAsync(60); // 'a' is being sent, and waits
    const second = slow.push('b');
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['a', 'b']);
  });

  it('rethrows a failed send from the next push or end, and cancel drops what is pending', async () => {
    const failing = new DeltaBatcher(50, 10, async (delta) => {
      if (delta === 'b') throw new Error('redis down');
    });
    await failing.push('a');
    await failing.push('b');
    await jest.advanceTimersByTimeAsync(50);
    await expect(failing.push('c')).rejects.toThrow('redis down');
    await expect(failing.end()).rejects.toThrow('redis down');
    failing.cancel();
  });
});
