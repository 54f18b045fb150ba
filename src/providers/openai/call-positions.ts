/**
 * Which streamed tool call a delta continues, as its position among the stream's calls: OpenAI's
 * `index`. OpenAI numbers every call; servers imitating it may not. Some leave `index` out
 * (Gemini's OpenAI-compatible endpoint, Ollama's, SGLang, mistral.rs) and send each call with its
 * id and its continuations without one; some give every call index 0 (Ollama's, for some models)
 * but each a new id, so a delta whose id differs from its index's call starts another call. A
 * call's first delta may carry neither, its id coming with a later one.
 */
export class ToolCallPositions {
  private readonly calls: Array<{ key: number | undefined; id: string | undefined }> = [];

  /** The position of the call `delta` belongs to: a new call's is the next one. */
  of(delta: Record<string, unknown>): number {
    const key = typeof delta.index === 'number' ? delta.index : undefined;
    const id = typeof delta.id === 'string' && delta.id !== '' ? delta.id : undefined;
    const at =
      key !== undefined
        ? this.calls.findLastIndex((call) => call.key === key)
        : id !== undefined
          ? this.byId(id)
          : this.calls.length - 1;
    const known = this.calls[at];
    const another = key !== undefined && id !== undefined && known?.id !== undefined && known.id !== id;
    if (known && !another) {
      known.id ??= id;
      return at;
    }
    this.calls.push({ key, id });
    return this.calls.length - 1;
  }

  /**
   * The call with this id; else the last call, when it came with neither index nor id (its id
   * comes later); else none (-1).
   */
  private byId(id: string): number {
    const known = this.calls.findIndex((call) => call.id === id);
    if (known !== -1) return known;
    const last = this.calls.at(-1);
    return last && last.id === undefined && last.key === undefined ? this.calls.length - 1 : -1;
  }
}
