import { setTimeout as sleep } from 'node:timers/promises';
import { validate, version } from 'uuid';
import { timeOrderedId } from './time-ordered-id.js';

describe('timeOrderedId', () => {
  it('makes valid, distinct UUIDv7s across many refills of its random pool', () => {
    const ids = Array.from({ length: 2000 }, () => timeOrderedId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
    }
  });

  it('sorts an id made in a later millisecond after an earlier one', async () => {
    const earlier = timeOrderedId();
    await sleep(2);
    const later = timeOrderedId();
    expect(later > earlier).toBe(true);
  });
});
