import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { DevSignInController } from './dev-sign-in.controller.js';

/** The demo chat page's server side: its development sign-in (the page itself: serve-demo-page.ts). */
@Module({
  imports: [AuthModule],
  controllers: [DevSignInController],
})
export class DemoModule {}
