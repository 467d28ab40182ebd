import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import type { AppConfig } from './app-config.js';

/**
 * Serves the configuration validated at boot through `@nestjs/config`, typed:
 * inject `ConfigService<AppConfig, true>` and read `config.get('redis', { infer: true })`.
 * Nothing behind it reads `process.env` again.
 */
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
}
