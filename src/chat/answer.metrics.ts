import { Injectable } from '@nestjs/common';
import { Counter, Histogram, Registry } from 'prom-client';

/** The answer path, measured where it happens: time to first token, generation speed, outcomes. */
@Injectable()
export class AnswerMetrics {
  readonly timeToFirstToken: Histogram;
  readonly tokensPerSecond: Histogram;
  readonly answers: Counter<'outcome'>;

  constructor(registry: Registry) {
    this.timeToFirstToken = new Histogram({
      name: 'chat_answer_time_to_first_token_seconds',
      help: 'From the user message being stored to the first token of its answer',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: [registry],
    });
    this.tokensPerSecond = new Histogram({
      name: 'chat_answer_tokens_per_second',
      help: 'Streamed chunks per second of generation, per completed answer',
      buckets: [1, 5, 10, 20, 50, 100, 200, 500],
      registers: [registry],
    });
    this.answers = new Counter({
      name: 'chat_answers_total',
      help: 'Answers by outcome: complete, cancelled, or the failure code',
      labelNames: ['outcome'],
      registers: [registry],
    });
  }
}
