import { SNIPPET_MAX_CHARS } from '../retrieval/retriever.js';
import { asReference, SOURCE_LABEL_MAX_CHARS } from './answer-sources.js';

describe('asReference: what a replaceable retriever returns, as an answer carries it', () => {
  it('keeps a well-behaved source as it is', () => {
    const source = { id: 'doc-1', title: 'Sticky sessions', snippet: 'Long-polling needs…', score: 0.8 };
    expect(asReference(source)).toEqual(source);
  });

  it('cuts a whole document returned as a snippet, and long ids and titles, and drops extra fields', () => {
    const source = { id: 'i'.repeat(1000), title: 't'.repeat(1000), snippet: 's'.repeat(100_000), score: 1 };
    const cut = asReference({ ...source, body: 'the whole document' } as typeof source);
    expect(cut).toEqual({
      id: 'i'.repeat(SOURCE_LABEL_MAX_CHARS),
      title: 't'.repeat(SOURCE_LABEL_MAX_CHARS),
      snippet: 's'.repeat(SNIPPET_MAX_CHARS),
      score: 1,
    });
  });

  it('keeps the contract shape whatever a loose retriever returns, and drops what is not a source', () => {
    expect(asReference({ id: 42, title: undefined, snippet: { html: '<p>' }, score: Number.NaN })).toEqual({
      id: '42',
      title: '',
      snippet: '',
      score: 0,
    });
    expect(asReference({ id: 'd', title: 't', snippet: 's', score: '0.9' })).toMatchObject({ score: 0 });
    expect(asReference(null)).toBeUndefined();
    expect(asReference('a source')).toBeUndefined();
  });

  it('never leaves half of a surrogate pair at the cut', () => {
    // An emoji is two UTF-16 units; the cut falls between them.
    const snippet = 'a' + '😀'.repeat(SNIPPET_MAX_CHARS);
    const kept = asReference({ id: 'd', title: 't', snippet, score: 0 })?.snippet;
    expect(kept).toBe('a' + '😀'.repeat((SNIPPET_MAX_CHARS - 2) / 2));
    expect(Buffer.from(kept ?? '', 'utf8').toString('utf8')).toBe(kept); // no lone surrogate (it would become U+FFFD)
  });
});
