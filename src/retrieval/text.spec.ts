import { SNIPPET_MAX_CHARS, clampLimit } from './retriever.js';
import {
  CHUNK_MAX_CHARS,
  MAX_SEARCH_TERMS,
  chunkText,
  documentTitle,
  searchTerms,
  searchableText,
  tidySnippet,
} from './text.js';

describe('searchTerms', () => {
  it('keeps the words of a question, lower-cased, without stop words or repeats', () => {
    expect(searchTerms('How do sticky sessions work with Redis? Redis!')).toEqual([
      'sticky',
      'sessions',
      'work',
      'redis',
    ]);
  });

  it('leaves no FTS5 or tsquery syntax: quotes, brackets, operators and columns become plain words', () => {
    const hostile = `what's "sticky" (routing)? NEAR(a b, 2) -x title:y * ^z '; DROP TABLE documents; -- a|b&!c <-> d`;
    for (const term of searchTerms(hostile)) expect(term).toMatch(/^[\p{L}\p{M}\p{N}]+$/u);
    expect(searchTerms(hostile)).toEqual(
      expect.arrayContaining(['sticky', 'routing', 'near', 'title', 'drop', 'table', 'documents']),
    );
  });

  it('gives nothing for an empty or stop-words-only question', () => {
    expect(searchTerms('')).toEqual([]);
    expect(searchTerms('   ?!  ')).toEqual([]);
    expect(searchTerms('What is it, and how?')).toEqual([]);
  });

  it('keeps letters of every script and caps a very long question', () => {
    expect(searchTerms('Qu’est-ce qu’un café? 東京 Ärger')).toEqual(
      expect.arrayContaining(['café', '東京', 'ärger']),
    );
    const long = Array.from({ length: 5000 }, (_, i) => `word${i}`).join(' ');
    expect(searchTerms(long)).toHaveLength(MAX_SEARCH_TERMS);
    expect(searchTerms('x'.repeat(10_000))).toEqual([]);
  });
});

describe('documentTitle', () => {
  it('is the first # heading of a Markdown file, past front matter and code fences', () => {
    const markdown = [
      '---',
      'title: not this',
      '---',
      '```bash',
      '# a comment',
      '```',
      '## Level two',
      '# Sticky sessions #',
      '# Later',
    ].join('\n');
    expect(documentTitle('guides/redis.md', markdown)).toBe('Sticky sessions');
  });

  it('is the file name for text files and headingless Markdown', () => {
    expect(documentTitle('notes/ollama.txt', '# not a heading in a .txt')).toBe('ollama.txt');
    expect(documentTitle('a/b/plain.MD', 'no heading here\n#hashtag')).toBe('plain.MD');
  });
});

describe('searchableText', () => {
  it('drops the YAML front matter of Markdown only', () => {
    expect(searchableText('a.md', '---\ntags: [x]\n---\n# Title\nBody')).toBe('# Title\nBody');
    expect(searchableText('a.txt', '---\nkept\n---\nBody')).toBe('---\nkept\n---\nBody');
    expect(searchableText('a.md', '--- not front matter')).toBe('--- not front matter');
  });
});

describe('chunkText', () => {
  it('packs paragraphs into passages no longer than the maximum, losing no words', () => {
    const paragraphs = Array.from(
      { length: 40 },
      (_, i) => `Paragraph ${i} ${'lorem ipsum '.repeat((i % 7) * 10)}.`,
    );
    const chunks = chunkText(paragraphs.join('\n\n'));
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(CHUNK_MAX_CHARS);
    const words = (text: string) => text.split(/\s+/).filter(Boolean);
    expect(chunks.flatMap(words)).toEqual(words(paragraphs.join(' ')));
  });

  it('cuts a giant paragraph, even one without spaces', () => {
    const chunks = chunkText(`${'A sentence here. '.repeat(500)}${'x'.repeat(4000)}`);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(CHUNK_MAX_CHARS);
    expect(chunks.join('').replace(/\s/g, '').length).toBe('Asentencehere.'.length * 500 + 4000);
  });

  it('starts a new passage at a heading once the current one has substance', () => {
    const chunks = chunkText(`# One\n\n${'a '.repeat(300)}\n\n## Two\n\nshort`);
    expect(chunks).toHaveLength(2);
    expect(chunks[1].startsWith('## Two')).toBe(true);
  });

  it('gives nothing for an empty text', () => {
    expect(chunkText(' \n\n \n')).toEqual([]);
  });
});

describe('tidySnippet and clampLimit', () => {
  it('flattens whitespace, drops heading markers and cuts at a word with an ellipsis', () => {
    expect(tidySnippet('# Title\n\n  body   text\n## Sub')).toBe('Title body text Sub');
    const cut = tidySnippet('word '.repeat(200));
    expect(cut.length).toBeLessThanOrEqual(SNIPPET_MAX_CHARS);
    expect(cut.endsWith('word…')).toBe(true);
  });

  it('clamps the limit to 1..20 with 5 by default', () => {
    expect([undefined, NaN, Infinity, 0, -3, 2.7, 20, 500].map(clampLimit)).toEqual([
      5, 5, 5, 1, 1, 2, 20, 20,
    ]);
  });
});
