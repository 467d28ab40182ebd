import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { ServerResponse } from 'node:http';

/** `npm run build` compiles web/ into dist/web, beside this module's dist/demo. */
export const DEMO_PAGE_DIR = fileURLToPath(new URL('../web/', import.meta.url));

/**
 * The page may load only its own files and talk only to this origin (the Socket.IO client comes from
 * /socket.io/ on the same server), so an injected string has nowhere to send anything.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** Serves the built page at `/` (index.html) with a strict CSP; warns instead when it was not built. */
export function serveDemoPage(app: NestExpressApplication): void {
  if (!existsSync(`${DEMO_PAGE_DIR}index.html`)) {
    new Logger('Demo').warn(`DEMO_UI is on but the page is not built (${DEMO_PAGE_DIR}): run npm run build`);
    return;
  }
  app.useStaticAssets(DEMO_PAGE_DIR, {
    index: 'index.html',
    // The page changes with each build and is small: always revalidate instead of guessing a lifetime.
    maxAge: 0,
    setHeaders: (res: ServerResponse) => {
      res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Referrer-Policy', 'no-referrer');
    },
  });
}
