import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { JwtService } from '@nestjs/jwt';
import { signingSecret } from '../auth/installation-secret.js';
import { loadConfigOrExit } from '../config/load-config.js';

/** `npm run token -- --sub alice [--name Alice] [--ttl 3600]`; refuses to run in production. */
function main(): void {
  const { values } = parseArgs({
    options: { sub: { type: 'string' }, name: { type: 'string' }, ttl: { type: 'string', default: '3600' } },
  });
  const config = loadConfigOrExit();
  if (config.server.nodeEnv === 'production') {
    console.error('npm run token is a development tool and is off when NODE_ENV=production');
    process.exit(1);
  }
  const ttl = Number(values.ttl);
  if (!values.sub || !Number.isInteger(ttl) || ttl <= 0) {
    console.error('usage: npm run token -- --sub <user id> [--name <display name>] [--ttl <seconds>]');
    process.exit(1);
  }
  const token = new JwtService({ secret: signingSecret(config) }).sign(
    { sub: values.sub, name: values.name ?? values.sub },
    { algorithm: 'HS256', expiresIn: ttl },
  );
  console.log(token);
}

main();
