// The package's entry (`import { ChatModule } from 'nest-chat-redis'`): what an application that embeds
// the chat needs, and nothing of its internals.
export { ChatModule, type ChatModuleAsyncOptions, type ChatModuleOptions } from './public-api/chat.module.js';
export { useChatWebSockets } from './bootstrap/use-chat-websockets.js';
export { ChatAuthenticator, type VerifiedToken } from './auth/chat-authenticator.js';
export type { AuthUser } from './auth/auth-user.js';
export {
  RETRIEVER,
  type Retriever,
  type RetrieveOptions,
  type RetrievedSource,
} from './retrieval/retriever.js';
export type { RetrievalModuleOptions } from './retrieval/retrieval.module.js';
export type { AppConfig } from './config/app-config.js';
export { loadConfig, ConfigValidationError } from './config/load-config.js';
export { exitGracefullyOnSignals } from './bootstrap/graceful-shutdown.js';
