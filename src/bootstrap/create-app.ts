import type { INestApplication, NestApplicationOptions } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from '../app.module.js';
import type { AppConfig } from '../config/app-config.js';
import { allowsAnyOrigin } from '../config/cors-origins.js';
import { serveDemoPage } from '../demo/serve-demo-page.js';
import { useChatWebSockets } from './use-chat-websockets.js';
import { HttpErrorFilter } from '../service-api/http-error.filter.js';
import { serveOpenApi } from '../service-api/openapi.js';
import { jsonLogger } from '../logging/json-logger.js';
import type { RetrievalModuleOptions } from '../retrieval/retrieval.module.js';

/** Assembles the Nest app without listening; `main.ts` and the tests both use it. */
export interface CreateAppOptions extends Pick<NestApplicationOptions, 'logger'> {
  /** Your own retriever instead of the database full-text one (see RetrievalModule.forRoot). */
  retrieval?: RetrievalModuleOptions;
}

export async function createApp(
  config: AppConfig,
  // The process's JSON logger (src/logging) unless a test passes `false` or levels.
  { logger = jsonLogger(), retrieval }: CreateAppOptions = {},
): Promise<INestApplication> {
  // Failures during boot are thrown to the caller (main exits 1) instead of aborting the process.
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, retrieval), {
    abortOnError: false,
    logger,
  });
  if (config.server.demoUi) serveDemoPage(app);
  app.useGlobalFilters(new HttpErrorFilter(app.get(HttpAdapterHost).httpAdapter));
  // The API's description is for the teams building against it, not for the public.
  if (config.server.nodeEnv !== 'production') serveOpenApi(app);
  const origins = config.security.corsOrigins;
  app.enableCors({ origin: allowsAnyOrigin(origins) ? true : origins, credentials: true });
  useChatWebSockets(app);
  return app;
}
