export * from './retriever.js';
export * from './retrieval.module.js';
export * from './database.retriever.js';
export * from './document.entity.js';
export * from './ingest.js';
