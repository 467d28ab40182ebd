import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Inject, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/database/data-source-options.js';
import { ENTITIES } from '../src/entities.js';
import { runMigrationsExclusively } from '../src/database/migration-runner.js';
import { DatabaseRetriever } from '../src/retrieval/database.retriever.js';
import { type IngestEvent, PASSAGES_PER_TRANSACTION, ingestFolder } from '../src/retrieval/ingest.js';
import { RetrievalModule } from '../src/retrieval/retrieval.module.js';
import { chunkText } from '../src/retrieval/text.js';
import {
  MAX_RETRIEVE_LIMIT,
  RETRIEVER,
  type RetrievedSource,
  type RetrieveOptions,
  type Retriever,
  SNIPPET_MAX_CHARS,
} from '../src/retrieval/retriever.js';
import { DATABASE_KINDS, databaseConfigFor, freshDatabase } from './support/postgres.js';

const INGEST_CLI = resolve(process.cwd(), 'dist/cli/ingest.js');
const QUESTION = 'How do sticky sessions work with Redis?';

async function migratedDataSource(url: string): Promise<DataSource> {
  const dataSource = await new DataSource(dataSourceOptions(databaseConfigFor(url), ENTITIES)).initialize();
  await runMigrationsExclusively(dataSource, { log: () => undefined });
  return dataSource;
}

/** A large file about gardening, with one passage about zanzibar deep inside it. */
function gardeningBook(): string {
  const chapters: string[] = ['# The gardening almanac'];
  for (let i = 0; i < 1500; i++) {
    chapters.push(
      `## Bed ${i}\n\nTomatoes in bed ${i} want compost, mulch and water every morning; prune suckers ` +
        `weekly and stake the vines before the fruit sets. Gardening notes, season ${i % 12}.`,
    );
    if (i === 1234) chapters.push('Zanzibar cloves grow slowly and want shade for their first years.');
  }
  return chapters.join('\n\n');
}

/** The folder of a small knowledge base: a Redis guide, Ollama notes, a recipe, a large book. */
function writeKnowledgeBase(folder: string): void {
  mkdirSync(join(folder, 'ops', 'notes'), { recursive: true });
  mkdirSync(join(folder, '.git'), { recursive: true });
  writeFileSync(
    join(folder, 'ops', 'redis-sticky-sessions.md'),
    [
      '---',
      'tags: [redis, scaling]',
      '---',
      '# Redis and sticky sessions',
      '',
      'Socket.IO clients start on HTTP long-polling. With several workers, every request of one',
      'Engine.IO session must reach the worker that holds the session: that is sticky routing.',
      '',
      'Redis shares rooms and broadcasts between workers through the adapter, but it does not route',
      'requests. Sticky sessions and the Redis adapter work together.',
    ].join('\n'),
  );
  writeFileSync(
    join(folder, 'ops', 'notes', 'ollama.txt'),
    'Ollama serves local language models over HTTP on port 11434.\nPull a model with: ollama pull llama3.2\n',
  );
  writeFileSync(
    join(folder, 'risotto.md'),
    '# Mushroom risotto\n\nToast the rice in butter, add warm stock one ladle at a time and stir until creamy.\n',
  );
  writeFileSync(join(folder, 'gardening.md'), gardeningBook());
  // Not ingested: other extensions and hidden folders.
  writeFileSync(join(folder, 'ops', 'diagram.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]));
  writeFileSync(join(folder, '.git', 'HEAD.txt'), 'ref: refs/heads/main sticky redis');
}

function runIngest(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'ingest-cli-'));
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [INGEST_CLI, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: cwd, STORAGE_DIR: join(cwd, 'storage'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      rmSync(cwd, { recursive: true, force: true });
      resolveRun({ code, stdout, stderr });
    });
  });
}

const HOSTILE_QUERIES = [
  `what's "sticky" (routing)?`,
  '"',
  '"""',
  '((()',
  'sticky*',
  '*',
  'NEAR(sticky redis, 2)',
  'NEAR',
  'sticky NEAR/2 redis',
  '-redis',
  'redis -sticky',
  'title:redis',
  ':',
  '^sticky',
  'sticky AND OR NOT redis',
  'AND',
  'a | b & !c <-> d',
  "'; DROP TABLE documents; --",
  "redis' OR '1'='1",
  '',
  '   ',
  '\u0000',
  '\ud800 lone surrogate',
  '🙂 emoji only 🙂',
  'x'.repeat(10_000),
  Array.from({ length: 2000 }, (_, i) => `redis${i} "sticky" (${i})`).join(' '),
];

describe.each(DATABASE_KINDS)('retrieval on %s', (kind) => {
  let database: { url: string; drop(): Promise<void> };
  let dataSource: DataSource;
  let folder: string;
  let retriever: DatabaseRetriever;

  beforeAll(async () => {
    database = await freshDatabase(kind);
    dataSource = await migratedDataSource(database.url);
    folder = mkdtempSync(join(tmpdir(), 'retrieval-docs-'));
    writeKnowledgeBase(folder);
    retriever = new DatabaseRetriever(dataSource);
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
    rmSync(folder, { recursive: true, force: true });
  });

  it('ingests the .md and .txt files of a folder, then finds the Redis document first', async () => {
    const events: IngestEvent[] = [];
    const report = await ingestFolder(dataSource, folder, { onFile: (event) => events.push(event) });
    expect(report).toEqual({ added: 4, updated: 0, unchanged: 0, removed: 0, failed: 0, files: 4 });
    expect(events.map((event) => event.path)).toEqual([
      'gardening.md',
      'ops/notes/ollama.txt',
      'ops/redis-sticky-sessions.md',
      'risotto.md',
    ]);

    const sources = await retriever.retrieve(QUESTION);
    expect(sources.length).toBeGreaterThanOrEqual(1);
    const [best] = sources;
    expect(best).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      title: 'Redis and sticky sessions',
      snippet: expect.stringMatching(/sticky|session|redis/i),
      score: expect.any(Number),
    });
    expect(best.snippet).not.toContain('tags:'); // front matter is not quoted
    expect(best.score).toBeGreaterThan(0);
    expect(best.score).toBeLessThanOrEqual(1);
    const scores = sources.map((source) => source.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(sources.map((source) => source.title)).not.toContain('Mushroom risotto');

    expect((await retriever.retrieve('Which port does Ollama listen on?'))[0]).toMatchObject({
      title: 'ollama.txt',
      snippet: expect.stringContaining('11434'),
    });
  });

  it('answers [] when nothing matches, and for questions made of stop words only', async () => {
    await expect(retriever.retrieve('quantum chromodynamics on a lattice')).resolves.toEqual([]);
    await expect(retriever.retrieve('What is it and how is it?')).resolves.toEqual([]);
  });

  it('quotes a large file by the passage that matched, one source per document, within the limit', async () => {
    const [clove] = await retriever.retrieve('zanzibar cloves');
    expect(clove).toMatchObject({
      title: 'The gardening almanac',
      snippet: expect.stringMatching(/zanzibar/i),
    });
    expect(clove.snippet.length).toBeLessThanOrEqual(SNIPPET_MAX_CHARS);

    // Hundreds of the book's passages match; it still counts once, and the question's limit holds.
    const tomatoes = await retriever.retrieve('tomatoes compost redis sticky ollama rice', { limit: 100 });
    expect(tomatoes.length).toBe(4);
    expect(new Set(tomatoes.map((source) => source.id)).size).toBe(4);
    expect(tomatoes.length).toBeLessThanOrEqual(MAX_RETRIEVE_LIMIT);
    expect(await retriever.retrieve('tomatoes compost redis sticky ollama rice', { limit: 2 })).toHaveLength(
      2,
    );
    for (const source of tomatoes) expect(source.snippet.length).toBeLessThanOrEqual(SNIPPET_MAX_CHARS);
    // Sources travel in events through Redis: 20 of them stay far below 64 KiB.
    expect(Buffer.byteLength(JSON.stringify(tomatoes))).toBeLessThan(8 * 1024);
  });

  it('never throws on hostile questions, and leaves the documents alone', async () => {
    for (const query of HOSTILE_QUERIES) {
      const sources = await retriever.retrieve(query);
      expect(Array.isArray(sources)).toBe(true);
      for (const source of sources) expect(source.snippet.length).toBeLessThanOrEqual(SNIPPET_MAX_CHARS);
    }
    await expect(retriever.retrieve(null as unknown as string)).resolves.toEqual([]);
    expect((await retriever.retrieve(`what's "sticky" (routing)?`))[0]?.title).toBe(
      'Redis and sticky sessions',
    );
    expect((await retriever.retrieve("'; DROP TABLE documents; --")).length).toBeLessThanOrEqual(1);
    expect((await retriever.retrieve(QUESTION))[0]?.title).toBe('Redis and sticky sessions');
  });

  it('rejects with the abort reason once the signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('answer cancelled'));
    await expect(retriever.retrieve(QUESTION, { signal: controller.signal })).rejects.toThrow(
      'answer cancelled',
    );
  });

  it('re-ingest replaces only the edited file, keeps its id, skips the rest; --prune removes deleted files', async () => {
    const [before] = await retriever.retrieve('ollama');
    writeFileSync(
      join(folder, 'ops', 'notes', 'ollama.txt'),
      'Ollama now listens on port 11500 behind a reverse proxy named hummingbird.\n',
    );
    const events: IngestEvent[] = [];
    const report = await ingestFolder(dataSource, folder, { onFile: (event) => events.push(event) });
    expect(report).toEqual({ added: 0, updated: 1, unchanged: 3, removed: 0, failed: 0, files: 4 });
    expect(events.filter((event) => event.outcome === 'updated').map((event) => event.path)).toEqual([
      'ops/notes/ollama.txt',
    ]);
    const [after] = await retriever.retrieve('hummingbird proxy');
    expect(after).toMatchObject({
      id: before.id,
      title: 'ollama.txt',
      snippet: expect.stringContaining('11500'),
    });
    await expect(retriever.retrieve('pull llama3')).resolves.toEqual([]);

    unlinkSync(join(folder, 'risotto.md'));
    expect(await ingestFolder(dataSource, folder)).toMatchObject({ unchanged: 3, removed: 0 });
    expect((await retriever.retrieve('risotto'))[0]?.title).toBe('Mushroom risotto');
    expect(await ingestFolder(dataSource, folder, { prune: true })).toMatchObject({
      unchanged: 3,
      removed: 1,
    });
    await expect(retriever.retrieve('risotto')).resolves.toEqual([]);
    const [{ chunks }] = await dataSource.query(
      `SELECT count(*) AS chunks FROM document_chunks c WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = c.document_id)`,
    );
    expect(Number(chunks)).toBe(0);
  });

  it('reports a file that is not UTF-8 text as failed and stores the others', async () => {
    const other = mkdtempSync(join(tmpdir(), 'retrieval-bad-'));
    try {
      writeFileSync(join(other, 'latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff]));
      writeFileSync(join(other, 'fine.md'), '# Fine\n\nA perfectly fine pelican note.');
      const events: IngestEvent[] = [];
      const report = await ingestFolder(dataSource, other, { onFile: (event) => events.push(event) });
      expect(report).toMatchObject({ added: 1, failed: 1 });
      expect(events).toContainEqual({ path: 'latin1.txt', outcome: 'failed', message: 'not UTF-8 text' });
      expect((await retriever.retrieve('pelican'))[0]?.title).toBe('Fine');
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('stores a document of more passages than one transaction holds, and lets it crowd out no weak match', async () => {
    const other = mkdtempSync(join(tmpdir(), 'retrieval-crowd-'));
    try {
      const section = (i: number) =>
        `## Tomatoes ${i}\n\n${'Tomatoes, tomatoes and more tomatoes. '.repeat(14)}`;
      writeFileSync(
        join(other, 'crowd.md'),
        `# Tomato crowd\n\n${Array.from({ length: 700 }, (_, i) => section(i)).join('\n\n')}`,
      );
      writeFileSync(
        join(other, 'lonely.md'),
        `# Lonely note\n\n${'Filler words about nothing much. '.repeat(40)}tomatoes.`,
      );
      expect(await ingestFolder(dataSource, other)).toMatchObject({ added: 2, failed: 0 });
      // Written in several transactions (PASSAGES_PER_TRANSACTION), every passage is there and the
      // final hash too: a second run finds the file unchanged.
      const [{ passages }] = await dataSource.query(
        `SELECT count(*) AS passages FROM document_chunks c JOIN documents d ON d.id = c.document_id
         WHERE d.source_path = 'crowd.md'`,
      );
      expect(Number(passages)).toBeGreaterThan(PASSAGES_PER_TRANSACTION);
      expect(Number(passages)).toBe(chunkText(readFileSync(join(other, 'crowd.md'), 'utf8')).length);
      expect(await ingestFolder(dataSource, other)).toMatchObject({ unchanged: 2 });

      const titles = (await retriever.retrieve('tomatoes', { limit: 5 })).map((source) => source.title);
      expect(titles).toEqual(
        expect.arrayContaining(['Tomato crowd', 'Lonely note', 'The gardening almanac']),
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('is what RetrievalModule.forRoot() provides by default, over the TypeORM DataSource', async () => {
    @Module({
      imports: [
        TypeOrmModule.forRoot(dataSourceOptions(databaseConfigFor(database.url), ENTITIES)),
        RetrievalModule.forRoot(),
      ],
    })
    class RootModule {}
    const app = await NestFactory.createApplicationContext(RootModule, { logger: false });
    try {
      const injected = app.get<Retriever>(RETRIEVER);
      expect(injected).toBeInstanceOf(DatabaseRetriever);
      expect((await injected.retrieve(QUESTION))[0]?.title).toBe('Redis and sticky sessions');
    } finally {
      await app.close();
    }
  });

  it('npm run ingest: migrates a fresh database, ingests, then finds nothing changed; exit 1 without the folder', async () => {
    const fresh = await freshDatabase(kind);
    try {
      const first = await runIngest([folder], { DATABASE_URL: fresh.url });
      expect(first.stderr).toBe('');
      expect(first.stdout).toMatch(/Database migrations applied: .*Documents1764300000000/);
      expect(first.stdout).toMatch(/^added +ops\/redis-sticky-sessions\.md$/m);
      expect(first.stdout).toMatch(
        /Ingest done: 3 added, 0 updated, 0 unchanged, 0 removed, 0 failed \(3 files/,
      );
      expect(first.code).toBe(0);

      const again = await runIngest([folder], { DATABASE_URL: fresh.url });
      expect(again.stdout).toMatch(/Database schema is up to date/);
      expect(again.stdout).toMatch(/Ingest done: 0 added, 0 updated, 3 unchanged, 0 removed, 0 failed/);
      expect(again.code).toBe(0);

      const check = await migratedDataSource(fresh.url);
      try {
        expect((await new DatabaseRetriever(check).retrieve(QUESTION))[0]?.title).toBe(
          'Redis and sticky sessions',
        );
      } finally {
        await check.destroy();
      }

      const missing = await runIngest([join(folder, 'no-such-folder')], { DATABASE_URL: fresh.url });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^Folder not found: .*no-such-folder$/m);
      const usage = await runIngest([], { DATABASE_URL: fresh.url });
      expect(usage.code).toBe(1);
      expect(usage.stderr).toMatch(/usage: npm run ingest -- <folder>/);
    } finally {
      await fresh.drop();
    }
  });
});

describe('a retriever of your own', () => {
  const FAQ = Symbol('FAQ');
  interface Faq {
    question: string;
    answer: string;
  }

  @Module({
    providers: [
      { provide: FAQ, useValue: [{ question: 'refund policy', answer: 'Refunds within 30 days.' }] },
    ],
    exports: [FAQ],
  })
  class FaqModule {}

  /** What a backend team writes: any class implementing Retriever, with its own dependencies. */
  @Injectable()
  class FaqRetriever implements Retriever {
    constructor(@Inject(FAQ) private readonly faqs: Faq[]) {}

    async retrieve(query: string, options: RetrieveOptions = {}): Promise<RetrievedSource[]> {
      return this.faqs
        .filter((faq) => query.toLowerCase().includes(faq.question))
        .slice(0, options.limit ?? 5)
        .map((faq, i) => ({ id: `faq-${i}`, title: faq.question, snippet: faq.answer, score: 1 }));
    }
  }

  /** Stands for the chat's service: it injects RETRIEVER without importing RetrievalModule. */
  @Injectable()
  class Answerer {
    constructor(@Inject(RETRIEVER) readonly retriever: Retriever) {}
  }

  @Module({ providers: [Answerer], exports: [Answerer] })
  class FeatureModule {}

  it('replaces the default through RetrievalModule.forRoot({ retriever, imports })', async () => {
    @Module({
      imports: [RetrievalModule.forRoot({ imports: [FaqModule], retriever: FaqRetriever }), FeatureModule],
    })
    class RootModule {}
    const app = await NestFactory.createApplicationContext(RootModule, { logger: false });
    try {
      const retriever = app.get<Retriever>(RETRIEVER);
      expect(retriever).toBeInstanceOf(FaqRetriever);
      expect(app.get(Answerer).retriever).toBe(retriever);
      await expect(retriever.retrieve('What is your refund policy?')).resolves.toEqual([
        { id: 'faq-0', title: 'refund policy', snippet: 'Refunds within 30 days.', score: 1 },
      ]);
      await expect(retriever.retrieve('shipping?')).resolves.toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('or through a factory', async () => {
    @Module({
      imports: [
        RetrievalModule.forRoot({
          imports: [FaqModule],
          inject: [FAQ],
          useFactory: (faqs: Faq[]) =>
            new FaqRetriever(faqs.map((faq) => ({ ...faq, answer: faq.answer.toUpperCase() }))),
        }),
        FeatureModule,
      ],
    })
    class RootModule {}
    const app = await NestFactory.createApplicationContext(RootModule, { logger: false });
    try {
      const [source] = await app.get(Answerer).retriever.retrieve('refund policy please');
      expect(source.snippet).toBe('REFUNDS WITHIN 30 DAYS.');
    } finally {
      await app.close();
    }
  });
});

beforeAll(() => {
  if (!existsSync(INGEST_CLI)) throw new Error(`${INGEST_CLI} is missing: run npm run build first`);
});
