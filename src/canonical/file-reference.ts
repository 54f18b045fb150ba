import { isWrapped, readSignature } from './foreign-signature.js';
import type { FileIssuer, MediaSource } from './model.js';

/** Where the Gemini Files API serves uploads; such a URL is a file reference, never fetched. */
export const GEMINI_FILES_URI = 'https://generativelanguage.googleapis.com/';

/**
 * Whether a Gemini `fileUri` names a file Gemini holds (a Files API URI, a `gs://` object,
 * `files/…`) rather than a web address, which providers that fetch URLs can be sent as one.
 */
export const isGeminiFile = (fileUri: string): boolean =>
  fileUri.startsWith(GEMINI_FILES_URI) || !/^https?:\/\//i.test(fileUri);

/** A YouTube video's address: Gemini reads one without a type, and no other provider reads it. */
export const isYouTubeVideo = (fileUri: string): boolean =>
  /^https:\/\/(?:(?:www\.|m\.)?youtube\.com|youtu\.be)\//i.test(fileUri);

/**
 * The format that issued a file reference of a shape only one provider issues: a Gemini Files API
 * URI, Cloud Storage object or `files/…` name; an Anthropic id (`file_` and its mixed-case id);
 * an OpenAI id (`file-…`).
 */
function issuedBy(id: string): FileIssuer | undefined {
  if (id.startsWith(GEMINI_FILES_URI) || /^(?:gs:\/\/|files\/)/.test(id)) return 'gemini';
  // Anthropic's ids mix cases (`file_011CNha8iCJcU1wXNR6q4V8w`); the lower-case ULIDs some
  // OpenAI-compatible servers give their files (`file_01jh6xa97be52b7pg88czwrrwb`) are not its.
  if (/^file_[0-9A-Za-z]*[A-Z][0-9A-Za-z]*$/.test(id)) return 'anthropic';
  return id.startsWith('file-') ? 'openai' : undefined;
}

/**
 * A file reference a client of a surface of format `own` sent, with its issuer: the one it is
 * wrapped under (`shownSignature`, as a listed conversation item shows another format's), else the
 * one its shape can only be, else `own`. A conversation stored before the issuer was kept holds
 * another format's id bare, and read as `own`'s it was refused on every later turn.
 */
export function fileReference(shown: string, own: FileIssuer): Extract<MediaSource, { kind: 'file' }> {
  if (isWrapped(shown)) {
    const { value, signedBy } = readSignature(shown, own);
    return { kind: 'file', fileId: value, issuer: signedBy ?? own };
  }
  return { kind: 'file', fileId: shown, issuer: issuedBy(shown) ?? own };
}
