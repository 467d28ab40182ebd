import { PRIMARY_MAX_FRAME_BYTES } from './frame-limit.js';
import { MAX_FRAME_BYTES } from './redis-io.adapter.js';

describe('the primary’s frame limit', () => {
  it('is the limit Engine.IO enforces in the workers', () => {
    expect(PRIMARY_MAX_FRAME_BYTES).toBe(MAX_FRAME_BYTES);
  });
});
