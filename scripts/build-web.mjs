// Builds the demo page: compiles web/src into dist/web and copies web's static files beside it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'web/tsconfig.json'], { stdio: 'inherit' });
mkdirSync('dist/web', { recursive: true });
for (const file of readdirSync('web')) {
  if (/\.(html|css|svg|ico)$/.test(file)) copyFileSync(`web/${file}`, `dist/web/${file}`);
}
