import { type DynamicModule, Module, type ModuleMetadata, type Type } from '@nestjs/common';
import { AuthModule } from './auth.module.js';
import { ChatAuthenticator } from './chat-authenticator.js';
import { SocketAuthenticator } from './socket-authenticator.js';

export interface ChatAuthenticationOptions {
  /** Your authenticator class, constructed by Nest (`@Injectable()` to inject its dependencies). */
  authenticator?: Type<ChatAuthenticator>;
  /** Modules whose exported providers your authenticator needs. */
  imports?: ModuleMetadata['imports'];
}

/** Provides `ChatAuthenticator` globally: the installation's HS256 JWTs unless an application brings its own. */
@Module({})
export class ChatAuthenticationModule {
  static forRoot({ authenticator, imports = [] }: ChatAuthenticationOptions = {}): DynamicModule {
    return {
      module: ChatAuthenticationModule,
      global: true,
      imports: [AuthModule, ...imports],
      providers: [
        authenticator
          ? { provide: ChatAuthenticator, useClass: authenticator }
          : { provide: ChatAuthenticator, useExisting: SocketAuthenticator },
      ],
      exports: [ChatAuthenticator],
    };
  }
}
