import { GoogleGenAI, MediaProcessing } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeProvider } from '../support/fake-providers/server.js';
import { type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/** The value at `keys` in a body a fake provider was sent. */
const at = (value: unknown, ...keys: (string | number)[]): unknown =>
  keys.reduce<unknown>((inner, key) => (inner as Record<string | number, unknown> | undefined)?.[key], value);

/** Legitimate request fields the SDKs send, taken and carried rather than refused or dropped. */
describe('legitimate request fields', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ fakes, kw, close } = await startFormatGateway());
  });
  afterAll(async () => {
    await close?.();
  });

  const gemini = () => new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: kw.dataUrl } });

  describe("Gemini's Part.mediaProcessing (an enum, as @google/genai sends it)", () => {
    const video = {
      fileData: { fileUri: 'https://example.com/clip.mp4', mimeType: 'video/mp4' },
      mediaProcessing: MediaProcessing.AGENTIC,
    };

    it('reaches a Gemini provider as sent, on a part and in a function response', async () => {
      await gemini().models.generateContent({
        model: 'gemini/gemini-test',
        contents: [
          { role: 'user', parts: [video, { text: 'What happens in this video?' }] },
          { role: 'model', parts: [{ functionCall: { name: 'clip', args: {} } }] },
          {
            role: 'user',
            parts: [
              {
                functionResponse: {
                  name: 'clip',
                  response: { output: 'the clip' },
                  parts: [{ ...video, mediaProcessing: MediaProcessing.STATIC }],
                },
              },
            ],
          },
        ],
      });
      const sent = fakes.gemini.requests.at(-1)!.body;
      expect(at(sent, 'contents', 0, 'parts', 0, 'mediaProcessing')).toBe('AGENTIC');
      expect(at(sent, 'contents', 2, 'parts', 0, 'functionResponse', 'parts', 0, 'mediaProcessing')).toBe(
        'STATIC',
      );
    });

    it('is taken in any case and refused when it is no MediaProcessing value', async () => {
      const ai = gemini();
      await ai.models.generateContent({
        model: 'gemini/gemini-test',
        contents: [{ role: 'user', parts: [{ ...video, mediaProcessing: 'agentic' as MediaProcessing }] }],
      });
      expect(at(fakes.gemini.requests.at(-1)!.body, 'contents', 0, 'parts', 0, 'mediaProcessing')).toBe(
        'AGENTIC',
      );
      await expect(
        ai.models.generateContent({
          model: 'gemini/gemini-test',
          contents: [{ role: 'user', parts: [{ ...video, mediaProcessing: { mode: 'AGENTIC' } as never }] }],
        }),
      ).rejects.toMatchObject({ status: 400 });
    });

    it('is dropped for a provider of another format, which has no such setting', async () => {
      await gemini().models.generateContent({
        model: 'anthropic/claude-test',
        contents: [
          {
            role: 'user',
            parts: [
              {
                inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' },
                mediaProcessing: MediaProcessing.AGENTIC,
              },
              { text: 'What is this?' },
            ],
          },
        ],
      });
      const sent = fakes.anthropic.requests.at(-1)!.body;
      expect([
        at(sent, 'messages', 0, 'content', 0, 'type'),
        at(sent, 'messages', 0, 'content', 1, 'type'),
      ]).toEqual(['image', 'text']);
      expect(JSON.stringify(sent)).not.toContain('mediaProcessing');
    });
  });
});
