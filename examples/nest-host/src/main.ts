import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { exitGracefullyOnSignals, loadConfig, useChatWebSockets } from 'nest-chat-redis';
import { HostModule } from './host.module.js';

// One process (WORKERS=1): several workers need the service's own primary (`node dist/main.js`), which
// routes each Engine.IO session to its worker; an embedding application scales out by pods instead.
const config = loadConfig(process.env);
const app = await NestFactory.create(HostModule);
useChatWebSockets(app);
exitGracefullyOnSignals(app, config.server);
await app.listen(config.server.port, config.server.host);
console.log(`Host application listening on http://${config.server.host}:${config.server.port}`);
