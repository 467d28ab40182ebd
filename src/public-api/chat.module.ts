import { type DynamicModule, Module, type ModuleMetadata, type Type } from '@nestjs/common';
import { ChatAuthenticationModule } from '../auth/chat-authentication.module.js';
import type { ChatAuthenticator } from '../auth/chat-authenticator.js';
import { ChatCoreModule } from '../chat/chat.module.js';
import type { AppConfig } from '../config/app-config.js';
import { AppConfigModule } from '../config/config.module.js';
import { DatabaseModule } from '../database/database.module.js';
import { ENTITIES } from '../entities.js';
import { HealthModule } from '../health/health.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { RedisModule } from '../redis/redis.module.js';
import { RetrievalModule, type RetrievalModuleOptions } from '../retrieval/retrieval.module.js';
import { ServiceApiModule } from '../service-api/service-api.module.js';

/** What an application plugs in; everything else comes from the configuration. */
export interface ChatExtensions {
  /** Who a handshake token says the socket is; default: the installation's HS256 JWTs. */
  authenticator?: Type<ChatAuthenticator>;
  /** Modules whose exported providers your authenticator needs. */
  authenticatorImports?: ModuleMetadata['imports'];
  /** Where answers find their sources; default: the database's full-text search (`npm run ingest`). */
  retrieval?: RetrievalModuleOptions;
}

export interface ChatModuleOptions extends ChatExtensions {
  /** The validated configuration: `loadConfig(process.env)`, or built by your application. */
  config: AppConfig;
}

export interface ChatModuleAsyncOptions extends ChatExtensions {
  imports?: ModuleMetadata['imports'];
  inject?: never[];
  useFactory: (...args: never[]) => AppConfig | Promise<AppConfig>;
}

/**
 * The chat as a module of your Nest application: the `/chat` gateway, Redis, the database, answers,
 * `/api/health`, `/api/ready`, `/metrics` and the service API beside your own routes. Call
 * `useChatWebSockets(app)` before `listen` so Socket.IO runs on the chat's adapter.
 */
@Module({})
export class ChatModule {
  static forRoot({ config, ...extensions }: ChatModuleOptions): DynamicModule {
    return ChatModule.assemble(AppConfigModule.forRoot(config), extensions);
  }

  static forRootAsync({ imports, inject, useFactory, ...extensions }: ChatModuleAsyncOptions): DynamicModule {
    return ChatModule.assemble(AppConfigModule.forRootAsync({ imports, inject, useFactory }), extensions);
  }

  private static assemble(config: DynamicModule, extensions: ChatExtensions): DynamicModule {
    return {
      module: ChatModule,
      imports: [
        config,
        RedisModule,
        DatabaseModule.forRoot(ENTITIES),
        MetricsModule,
        RetrievalModule.forRoot(extensions.retrieval),
        ChatAuthenticationModule.forRoot({
          authenticator: extensions.authenticator,
          imports: extensions.authenticatorImports,
        }),
        HealthModule,
        ChatCoreModule,
        ServiceApiModule,
      ],
    };
  }
}
