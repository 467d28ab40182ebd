import {
  type DynamicModule,
  type InjectionToken,
  type ModuleMetadata,
  Module,
  type OptionalFactoryDependency,
  type Provider,
  type Type,
} from '@nestjs/common';
import { DatabaseRetriever } from './database.retriever.js';
import { RETRIEVER, type Retriever } from './retriever.js';

export interface RetrievalModuleOptions {
  /**
   * Your retriever class, constructed by Nest: mark it `@Injectable()` and its constructor can inject
   * anything visible to the root module (ConfigService, DataSource…) or exported by `imports`.
   */
  retriever?: Type<Retriever>;
  /** Or a factory, for a retriever built from configuration. Wins over `retriever`. */
  useFactory?: (...args: never[]) => Retriever | Promise<Retriever>;
  /** The factory's arguments. */
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  /** Modules whose exported providers your retriever needs. */
  imports?: ModuleMetadata['imports'];
}

/**
 * Provides `RETRIEVER` to the whole application (a global module): import it once, in the root module,
 * and inject `@Inject(RETRIEVER) retriever: Retriever` anywhere, without importing it again.
 *
 * - `RetrievalModule.forRoot()`: the default `DatabaseRetriever`, full-text search over the documents
 *   of `npm run ingest` (needs the `DatabaseModule`, which the root module has).
 * - `RetrievalModule.forRoot({ retriever: MyRetriever })`: your class instead, e.g. a vector store;
 *   it implements `Retriever` and is `@Injectable()` if its constructor takes dependencies.
 * - `RetrievalModule.forRoot({ imports: [HttpModule], useFactory: (config) => new SearchRetriever(config),
 *   inject: [ConfigService] })`: a retriever built by a factory.
 */
@Module({})
export class RetrievalModule {
  static forRoot(options: RetrievalModuleOptions = {}): DynamicModule {
    const provider: Provider = options.useFactory
      ? { provide: RETRIEVER, useFactory: options.useFactory, inject: options.inject ?? [] }
      : { provide: RETRIEVER, useClass: options.retriever ?? DatabaseRetriever };
    return {
      module: RetrievalModule,
      global: true,
      imports: options.imports ?? [],
      providers: [provider],
      exports: [RETRIEVER],
    };
  }
}
