import { type DocumentPart, UnsupportedFeature } from './model.js';

/**
 * Text documents (`text/*`) sent inline. Of the formats only Gemini takes a text file as one:
 * Chat Completions' `file` part takes PDFs alone (OpenAI refuses `text/markdown` there), Ollama no
 * document, Anthropic plain text only as the text itself. Those are sent the text, which every
 * model reads.
 */

/** Standard or URL-safe base64 (Gemini's JSON takes either), without line breaks. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The text of an inline text document; undefined for any other document. Throws
 * UnsupportedFeature naming `param` when its data is not base64 of UTF-8: decoded leniently, it
 * reached the model as text with pieces missing or replaced.
 */
export function documentText(part: DocumentPart, param: string): string | undefined {
  const { source } = part;
  if (source.kind !== 'base64' || !source.mediaType.startsWith('text/')) return undefined;
  const unpadded = source.data.replace(/=+$/, '');
  if (BASE64.test(source.data) && unpadded.length % 4 !== 1) {
    try {
      return UTF8.decode(Buffer.from(source.data, 'base64'));
    } catch {
      // Not UTF-8: refused below.
    }
  }
  throw new UnsupportedFeature(
    `A ${source.mediaType} document is sent to this provider as its text, so its data must be base64 of UTF-8 text`,
    param,
  );
}

/** A document's text as one text part, named after its file as Anthropic is sent a document's title. */
export const namedText = (text: string, filename: string | undefined): string =>
  filename === undefined ? text : `<document title=${JSON.stringify(filename)}>\n${text}\n</document>`;
