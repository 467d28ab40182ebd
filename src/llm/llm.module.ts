import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { OllamaHealthIndicator } from './ollama.health.js';

@Module({
  imports: [TerminusModule],
  providers: [OllamaHealthIndicator],
  exports: [OllamaHealthIndicator],
})
export class LlmModule {}
