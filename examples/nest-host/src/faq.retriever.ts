import { Injectable } from '@nestjs/common';
import type { RetrieveOptions, RetrievedSource, Retriever } from 'nest-chat-redis';

const FAQ = [
  {
    id: 'faq-password',
    title: 'Resetting a password',
    text: 'Open Settings, choose Security, then Reset password.',
  },
  {
    id: 'faq-invoice',
    title: 'Downloading an invoice',
    text: 'Invoices are under Billing, one PDF per month.',
  },
  {
    id: 'faq-export',
    title: 'Exporting your data',
    text: 'Settings, Privacy, Export: a ZIP arrives by e-mail.',
  },
];

/** This application's own knowledge: a fixed FAQ, scored by the share of the question's words it contains. */
@Injectable()
export class FaqRetriever implements Retriever {
  async retrieve(query: string, { limit = 5 }: RetrieveOptions = {}): Promise<RetrievedSource[]> {
    const words = query.toLowerCase().match(/\p{L}{3,}/gu) ?? [];
    return FAQ.map((entry) => {
      const text = `${entry.title} ${entry.text}`.toLowerCase();
      const score =
        words.length === 0 ? 0 : words.filter((word) => text.includes(word)).length / words.length;
      return { id: entry.id, title: entry.title, snippet: entry.text, score };
    })
      .filter((source) => source.score > 0)
      .sort((a, b) => b.score - a.score)
      .slice(0, limit);
  }
}
