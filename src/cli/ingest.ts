import 'reflect-metadata';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../config/load-config.js';

const USAGE = 'usage: npm run ingest -- <folder> [--prune]';

/**
 * `npm run ingest -- <folder> [--prune]`: stores the folder's `.md` and `.txt` files for the default
 * retriever (migrations first; unchanged files skipped; `--prune` deletes documents whose file is gone).
 * Exit 1 if any file failed.
 */
async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { prune: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 1;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(USAGE);
    return 1;
  }
  const folder = resolve(positionals[0]);
  if (!existsSync(folder)) {
    console.error(`Folder not found: ${folder}`);
    return 1;
  }
  if (!statSync(folder).isDirectory()) {
    console.error(`Not a folder: ${folder}`);
    return 1;
  }
  const config = loadConfigOrExit();
  const started = Date.now();
  // Loaded after the arguments are checked, so a usage error answers at once.
  const [
    { DataSource },
    { dataSourceOptions },
    { runMigrationsExclusively },
    { ingestFolder },
    { ENTITIES },
  ] = await Promise.all([
    import('typeorm'),
    import('../database/data-source-options.js'),
    import('../database/migration-runner.js'),
    import('../retrieval/ingest.js'),
    import('../entities.js'),
  ]);
  const dataSource = await new DataSource(dataSourceOptions(config.database, ENTITIES)).initialize();
  try {
    await runMigrationsExclusively(dataSource, { log: (message: string) => console.log(message) });
    console.log(`Ingesting .md and .txt files from ${folder}`);
    const report = await ingestFolder(dataSource, folder, {
      prune: values.prune,
      onFile: ({ path, outcome, message }) => {
        if (outcome === 'failed') console.error(`failed     ${path}: ${message}`);
        else if (outcome !== 'unchanged') console.log(`${outcome.padEnd(10)} ${path}`);
      },
    });
    console.log(
      `Ingest done: ${report.added} added, ${report.updated} updated, ${report.unchanged} unchanged, ` +
        `${report.removed} removed, ${report.failed} failed (${report.files} files, ${Date.now() - started} ms)`,
    );
    return report.failed > 0 ? 1 : 0;
  } finally {
    await dataSource.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    // The message only: failures here are operational (database unreachable, folder unreadable).
    console.error(`Fatal: ingest failed: ${error.message}`);
    process.exit(1);
  },
);
