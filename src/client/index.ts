export { KeywardClient } from './client.js';
export { KeywardError } from './errors.js';
export type {
  Body,
  ChatCompletion,
  ChatDelta,
  ClientOptions,
  RequestOptions,
  SessionInfo,
  TemplateInfo,
  TemplateRun,
  Usage,
} from './types.js';
