import { basename } from 'node:path';
import { SNIPPET_MAX_CHARS } from './retriever.js';

const TITLE_MAX_CHARS = 300;
/** A chunk (the unit that is searched and quoted from) holds at most this many characters. */
export const CHUNK_MAX_CHARS = 1500;
/** How many distinct words of a question are searched; the rest of a very long question is ignored. */
export const MAX_SEARCH_TERMS = 32;
const MAX_TERM_CHARS = 64;

/** PostgreSQL's English stop words: FTS5 has none, and without them nearly every document matches. */
const STOP_WORDS = new Set(
  (
    'i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her ' +
    'hers herself it its itself they them their theirs themselves what which who whom this that these ' +
    'those am is are was were be been being have has had having do does did doing a an the and but if ' +
    'or because as until while of at by for with about against between into through during before after ' +
    'above below to from up down in out on off over under again further then once here there when where ' +
    'why how all any both each few more most other some such no nor not only own same so than too very ' +
    's t can will just don should now'
  ).split(' '),
);

/** Lower-cased letters and digits only, so no syntax of the user's reaches FTS5 or tsquery. */
export function searchTerms(question: string): string[] {
  const words =
    question
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{M}\p{N}]+/gu) ?? [];
  const terms = new Set<string>();
  for (const word of words) {
    if (STOP_WORDS.has(word) || word.length > MAX_TERM_CHARS) continue;
    terms.add(word);
    if (terms.size === MAX_SEARCH_TERMS) break;
  }
  return [...terms];
}

/** Whitespace collapsed, then cut to `SNIPPET_MAX_CHARS` at a word boundary with an ellipsis. */
export function tidySnippet(text: string): string {
  // Markdown heading markers say nothing in a one-line quote.
  const flat = text
    .replace(/(^|\n)[ \t]{0,3}#{1,6}[ \t]+/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
  if (flat.length <= SNIPPET_MAX_CHARS) return flat;
  const cut = flat.slice(0, SNIPPET_MAX_CHARS - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > SNIPPET_MAX_CHARS / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

/** The first `# heading` of Markdown (outside front matter and code fences), else the file name. */
export function documentTitle(path: string, content: string): string {
  const fallback = basename(path);
  if (!isMarkdown(path)) return clip(fallback, TITLE_MAX_CHARS);
  let fence: string | undefined;
  for (const line of searchableText(path, content).split(/\r?\n/)) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (!fence || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence ? undefined : marker;
      continue;
    }
    if (fence) continue;
    const heading = /^\s{0,3}#[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line)?.[1]?.trim();
    if (heading) return clip(heading, TITLE_MAX_CHARS);
  }
  return clip(fallback, TITLE_MAX_CHARS);
}

/** The part of a file that is indexed and quoted: a Markdown file without its YAML front matter. */
export function searchableText(path: string, content: string): string {
  if (!isMarkdown(path)) return content;
  const frontMatter = /^---[ \t]*\r?\n(?:[\s\S]*?\r?\n)?(?:---|\.\.\.)[ \t]*(?:\r?\n|$)/.exec(content);
  return frontMatter ? content.slice(frontMatter[0].length) : content;
}

function isMarkdown(path: string): boolean {
  return /\.md$/i.test(path);
}

/** Passages of at most `max` characters: paragraphs packed, split at headings, sentences or spaces. */
export function chunkText(content: string, max = CHUNK_MAX_CHARS): string[] {
  const paragraphs = content
    .split(/\r?\n[ \t]*\r?\n/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph.length > 0)
    .flatMap((paragraph) => (paragraph.length <= max ? [paragraph] : splitLong(paragraph, max)));
  const chunks: string[] = [];
  let current = '';
  for (const paragraph of paragraphs) {
    const heading = /^#{1,6}\s/.test(paragraph);
    const full = current.length + 2 + paragraph.length > max;
    if (current && (full || (heading && current.length > max / 3))) {
      chunks.push(current);
      current = '';
    }
    current = current ? `${current}\n\n${paragraph}` : paragraph;
  }
  if (current) chunks.push(current);
  return chunks;
}

function splitLong(text: string, max: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const window = rest.slice(0, max);
    let cut = Math.max(window.lastIndexOf('. '), window.lastIndexOf('.\n')) + 1;
    if (cut < max / 2) cut = Math.max(window.lastIndexOf(' '), window.lastIndexOf('\n'));
    if (cut < max / 2) cut = isLowSurrogate(rest.charCodeAt(max)) ? max - 1 : max;
    pieces.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trim();
  }
  if (rest) pieces.push(rest);
  return pieces.filter((piece) => piece.length > 0);
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
