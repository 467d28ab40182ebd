import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

/** Random bytes for 256 ids per refill: cheaper than uuid's `getRandomValues` per id (0003). */
const POOL_BYTES = 16 * 256;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** A UUIDv7: sorted by millisecond, random within one (docs/decisions/0003-uuidv7-ids.md). */
export function timeOrderedId(): string {
  if (offset === POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const random = pool.subarray(offset, (offset += 16));
  return v7({ random });
}
