import { Logger, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtModule } from '@nestjs/jwt';
import type { AppConfig } from '../config/app-config.js';
import { INSTALLATION_SECRET_FILE, signingSecret } from './installation-secret.js';
import { SocketAuthenticator } from './socket-authenticator.js';

@Module({
  imports: [
    JwtModule.registerAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) => {
        const security = config.get('security', { infer: true });
        const storage = config.get('storage', { infer: true });
        if (!security.jwtSecret) {
          new Logger('Auth').warn(
            `JWT_SECRET is not set: tokens are signed with this installation's generated secret ` +
              `(STORAGE_DIR/${INSTALLATION_SECRET_FILE}), which \`npm run token\` uses too. ` +
              'Production refuses to start without JWT_SECRET.',
          );
        }
        return {
          secret: signingSecret({ security, storage }),
          signOptions: { algorithm: 'HS256' },
          verifyOptions: { algorithms: ['HS256'] },
        };
      },
    }),
  ],
  providers: [SocketAuthenticator],
  // JwtModule: the demo's development sign-in signs with the same secret and options.
  exports: [SocketAuthenticator, JwtModule],
})
export class AuthModule {}
