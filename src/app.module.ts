import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from './config/app-config.js';
import { DemoModule } from './demo/demo.module.js';
import { ChatModule } from './public-api/chat.module.js';
import type { RetrievalModuleOptions } from './retrieval/retrieval.module.js';

@Module({})
export class AppModule {
  /** The whole service for a validated configuration; `retrieval` replaces the default retriever. */
  static forRoot(config: AppConfig, retrieval: RetrievalModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ChatModule.forRoot({ config, retrieval }),
        // The development sign-in exists only where the page is served.
        ...(config.server.demoUi ? [DemoModule] : []),
      ],
    };
  }
}
