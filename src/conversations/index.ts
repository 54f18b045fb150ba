export type * from './items.js';
export { isToolCall, isToolResult, replayableItems } from './items.js';
export { ownerOf, storedLimit, userOwner } from './owner.js';
export type { ResponseWriter } from './response-entries.js';
export {
  type ConversationBody,
  ConversationService,
  type HeldTurn,
  type HistoryLimit,
  type ItemPage,
  type PageOptions,
  type RoomHold,
  type StoredResponse,
} from './service.js';
export { ThreadConversationWriter, type WriteRequest, writeOnThread } from './thread-writer.js';
