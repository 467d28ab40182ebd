import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { OllamaClient } from './ollama.client.js';
import { OllamaHealthIndicator } from './ollama.health.js';

@Module({
  imports: [TerminusModule],
  providers: [OllamaHealthIndicator, OllamaClient],
  exports: [OllamaHealthIndicator, OllamaClient],
})
export class LlmModule {}
