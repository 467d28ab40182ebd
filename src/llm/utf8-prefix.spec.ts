import { utf8Prefix } from './ollama.client.js';

describe('utf8Prefix', () => {
  it('returns text that fits unchanged', () => {
    expect(utf8Prefix('hello', 5)).toBe('hello');
    expect(utf8Prefix('', 0)).toBe('');
  });

  it('counts UTF-8 bytes, not characters, and never cuts a character', () => {
    expect(utf8Prefix('漢字かな', 7)).toBe('漢字'); // 3 bytes each: a third would make 9
    expect(utf8Prefix('ab😀c', 5)).toBe('ab'); // the emoji is 4 bytes
    expect(utf8Prefix('ab😀c', 6)).toBe('ab😀');
    expect(utf8Prefix('é', 1)).toBe('');
  });

  it('has nothing to give from a spent budget, and counts a lone surrogate as the 3 bytes it is sent as', () => {
    expect(utf8Prefix('abc', 0)).toBe('');
    expect(utf8Prefix('abc', -5)).toBe('');
    expect(utf8Prefix('a\ud800b', 4)).toBe('a\ud800');
    expect(utf8Prefix('a\ud800b', 3)).toBe('a');
  });
});
