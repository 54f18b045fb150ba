import { z } from 'zod';

/**
 * Parameter ceilings: the most output tokens (`maxTokens`) and choices (`n`) one request may ask
 * for, on every credential type. Beyond a ceiling a request is refused with 400 naming it
 * (`reject`) or lowered to it (`clamp`, reported in the `x-keyward-clamped` response header).
 */
export const onExceedSchema = z.enum(['clamp', 'reject']);
export type OnExceed = z.infer<typeof onExceedSchema>;

const maxTokens = z.number().int().min(1).max(10_000_000);
const choices = z.number().int().min(1).max(128);

/** The client routes whose bodies carry these parameters; a surface added later adds its route here. */
export const CEILING_ROUTES = [
  '/v1/chat/completions',
  '/v1/messages',
  '/v1beta/models/{model}:generateContent',
  '/v1beta/models/{model}:streamGenerateContent',
] as const;

const routeCeilingSchema = z.strictObject({
  maxTokens: maxTokens.optional(),
  n: choices.optional(),
  onExceed: onExceedSchema.optional(),
});

export const ceilingsSchema = z
  .strictObject({
    /**
     * 65,536 output tokens: above what coding agents ask for (Claude Code asks up to 64,000) and
     * far below the billions an abuser sends; a request asking nothing stays bounded by the model.
     */
    maxTokens: maxTokens.default(65_536),
    /** 4 choices per request: n > 1 multiplies the output cost, and real uses rarely go past a few. */
    n: choices.default(4),
    /** A clear 400 the client can act on, rather than an answer shorter than it asked for. */
    onExceed: onExceedSchema.default('reject'),
    /** Per client route, overriding the values above. */
    routes: z.partialRecord(z.enum(CEILING_ROUTES), routeCeilingSchema).default({}),
  })
  .prefault({});

/** Per-alias ceilings, beside the alias's `maxTokens.max` (which has always lowered larger asks). */
export const aliasCeilingFields = {
  n: z.strictObject({ max: choices }).optional(),
  /** What `maxTokens.max` and `n.max` do to a larger ask; default `clamp`. */
  onExceed: onExceedSchema.optional(),
};
