import { isRecord } from '../../providers/index.js';

/** Azure's content filter annotations: `prompt_filter_results`, `content_filter_results`, `…_offsets`. */
export const FILTER_FIELDS = /_filter_(?:results|offsets)"\s*:/;

/**
 * An answer or stream chunk without Azure's content filter annotations, which name the backend
 * to the client: the prompt's at the top, and each choice's.
 */
export function withoutFilterFields(payload: Record<string, unknown>): Record<string, unknown> {
  const { prompt_filter_results: _prompt, ...answer } = payload;
  if (Array.isArray(answer.choices)) {
    answer.choices = answer.choices.map((choice: unknown) => {
      if (!isRecord(choice)) return choice;
      const { content_filter_results: _results, content_filter_offsets: _offsets, ...rest } = choice;
      return rest;
    });
  }
  return answer;
}
