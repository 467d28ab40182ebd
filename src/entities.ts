import { Conversation } from './conversations/conversation.entity.js';
import { ConversationMember } from './conversations/conversation-member.entity.js';
import { Message } from './conversations/message.entity.js';
import { DocumentChunk, StoredDocument } from './retrieval/document.entity.js';

/** Every TypeORM entity of the service, for its data source (the schema itself comes from migrations). */
export const ENTITIES = [Conversation, ConversationMember, Message, StoredDocument, DocumentChunk];
