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
  /** Your retriever class, constructed by Nest (`@Injectable()` to inject dependencies). */
  retriever?: Type<Retriever>;
  /** Or a factory, for a retriever built from configuration. Wins over `retriever`. */
  useFactory?: (...args: never[]) => Retriever | Promise<Retriever>;
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  /** Modules whose exported providers your retriever needs. */
  imports?: ModuleMetadata['imports'];
}

/**
 * Provides `RETRIEVER` globally. `forRoot()`: the full-text `DatabaseRetriever`; `forRoot({ retriever })`
 * or `forRoot({ useFactory, inject, imports })`: your own.
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
