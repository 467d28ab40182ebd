import { parseRecords } from './redis-answer-progress.store.js';

describe('parseRecords', () => {
  it('joins the records and counts them', () => {
    expect(parseRecords('5:Hello6: world')).toEqual({ content: 'Hello world', nextIndex: 2 });
  });

  it('reads deltas that contain colons, digits and characters beyond one UTF-16 unit', () => {
    const deltas = ['12:30', '', '数字 🎉', '7:'];
    const records = deltas.map((delta) => `${delta.length}:${delta}`).join('');
    expect(parseRecords(records)).toEqual({ content: deltas.join(''), nextIndex: 4 });
  });

  it('reads nothing as no progress', () => {
    expect(parseRecords('')).toEqual({ content: '', nextIndex: 0 });
  });
});
