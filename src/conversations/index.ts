export * from './conversation.entity.js';
export * from './conversation-member.entity.js';
export * from './message.entity.js';

import { Conversation } from './conversation.entity.js';
import { ConversationMember } from './conversation-member.entity.js';
import { Message } from './message.entity.js';

export const CHAT_ENTITIES = [Conversation, ConversationMember, Message];
