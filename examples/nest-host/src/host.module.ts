import { Module } from '@nestjs/common';
import { ChatModule, loadConfig } from 'nest-chat-redis';
import { FaqRetriever } from './faq.retriever.js';
import { HelloController } from './hello.controller.js';
import { IdentityModule } from './identity.module.js';
import { JwksAuthenticator } from './jwks.authenticator.js';

@Module({
  imports: [
    IdentityModule,
    // The chat, configured from the same variables as the service (docs/contract.md#environment), with
    // this application's authentication and knowledge instead of the defaults.
    ChatModule.forRootAsync({
      useFactory: () => loadConfig(process.env),
      authenticator: JwksAuthenticator,
      authenticatorImports: [IdentityModule],
      retrieval: { retriever: FaqRetriever },
    }),
  ],
  controllers: [HelloController],
})
export class HostModule {}
