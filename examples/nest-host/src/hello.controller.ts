import { Controller, Get } from '@nestjs/common';

/** The host application's own HTTP routes live beside the chat's. */
@Controller('hello')
export class HelloController {
  @Get()
  hello(): { hello: string } {
    return { hello: 'from the host application' };
  }
}
