import { type DynamicModule, Module, type ModuleMetadata } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import type { AppConfig } from './app-config.js';

export interface AppConfigAsyncOptions {
  imports?: ModuleMetadata['imports'];
  inject?: never[];
  useFactory: (...args: never[]) => AppConfig | Promise<AppConfig>;
}

/** The configuration validated at boot, typed: `ConfigService<AppConfig, true>`. */
@Module({})
export class AppConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      global: true,
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          skipProcessEnv: true,
          cache: true,
          load: [() => config],
        }),
      ],
      exports: [ConfigModule],
    };
  }

  /** The same, from a factory: for an application that builds the configuration from its own providers. */
  static forRootAsync({ imports = [], inject = [], useFactory }: AppConfigAsyncOptions): DynamicModule {
    return {
      module: AppConfigModule,
      global: true,
      imports,
      providers: [
        {
          provide: ConfigService,
          inject,
          useFactory: async (...args: never[]) => {
            const service = new ConfigService(await useFactory(...args));
            // It must read what it is constructed with, never the process's environment (a variable named
            // `server` would win otherwise); the setter ConfigModule.forRoot uses is private in its types.
            (service as unknown as { skipProcessEnv: boolean }).skipProcessEnv = true;
            return service;
          },
        },
      ],
      exports: [ConfigService],
    };
  }
}
