import { Logger, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtModule } from '@nestjs/jwt';
import type { AppConfig } from '../config/app-config.js';
import { DEVELOPMENT_JWT_SECRET, SocketAuthenticator } from './socket-authenticator.js';

@Module({
  imports: [
    JwtModule.registerAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) => {
        const secret = config.get('security', { infer: true }).jwtSecret;
        if (!secret) {
          new Logger('Auth').warn(
            'JWT_SECRET is not set: tokens use the development-only secret (make one with `npm run token`). ' +
              'Production refuses to start without JWT_SECRET.',
          );
        }
        return {
          secret: secret ?? DEVELOPMENT_JWT_SECRET,
          signOptions: { algorithm: 'HS256' },
          verifyOptions: { algorithms: ['HS256'] },
        };
      },
    }),
  ],
  providers: [SocketAuthenticator],
  exports: [SocketAuthenticator],
})
export class AuthModule {}
