import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from './config/app-config.js';
import { ChatModule } from './chat/chat.module.js';
import { AppConfigModule } from './config/config.module.js';
import { DemoModule } from './demo/demo.module.js';
import { DatabaseModule } from './database/database.module.js';
import { ENTITIES } from './entities.js';
import { HealthModule } from './health/health.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { RedisModule } from './redis/redis.module.js';
import { ServiceApiModule } from './service-api/service-api.module.js';
import { RetrievalModule, type RetrievalModuleOptions } from './retrieval/retrieval.module.js';

@Module({})
export class AppModule {
  /** The whole service for a validated configuration; `retrieval` replaces the default retriever. */
  static forRoot(config: AppConfig, retrieval: RetrievalModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        RedisModule,
        DatabaseModule.forRoot(ENTITIES),
        MetricsModule,
        RetrievalModule.forRoot(retrieval),
        HealthModule,
        ChatModule,
        ServiceApiModule,
        // The development sign-in exists only where the page is served.
        ...(config.server.demoUi ? [DemoModule] : []),
      ],
    };
  }
}
