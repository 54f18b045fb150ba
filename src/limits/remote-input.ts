/** Keys whose string value names content by address, fetched or read by the provider. */
const ADDRESS_KEYS = new Set(['url', 'image_url', 'file_url', 'fileUri']);
/** Keys whose string value names content the provider holds (an upload, a cache). */
const HELD_KEYS = new Set(['file_id', 'cachedContent']);
const REMOTE = /^(?:https?|gs):\/\//i;
/** Deeper than any surface's bodies nest content; a body nested further is refused by its schema. */
const MAX_DEPTH = 12;

/** Whether `test` holds for some key and value of `value`'s objects, at any depth up to MAX_DEPTH. */
function anyEntry(value: unknown, test: (key: string, inner: unknown) => boolean, depth = 0): boolean {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some((item) => anyEntry(item, test, depth + 1));
  for (const [key, inner] of Object.entries(value)) {
    if (test(key, inner) || anyEntry(inner, test, depth + 1)) return true;
  }
  return false;
}

/**
 * Whether a request body names input by address or id (an image or PDF by URL, an uploaded file,
 * a Gemini cache or video, MCP servers) rather than carrying it: such input costs what the
 * provider reads, which the body's size does not tell. The walk knows the surfaces' key names,
 * not their shapes, so it holds for every surface.
 */
export function namesRemoteInput(value: unknown): boolean {
  return anyEntry(value, (key, inner) =>
    typeof inner === 'string'
      ? (ADDRESS_KEYS.has(key) && REMOTE.test(inner)) || (HELD_KEYS.has(key) && inner !== '')
      : key === 'mcp_servers' && Array.isArray(inner) && inner.length > 0,
  );
}

/**
 * Whether a body carries media inline (Gemini's `inlineData` of any type but text): a provider
 * counts such input by pages, frames and image tiles, not bytes (a compressed PDF page of a few
 * bytes is hundreds of tokens), so its size in tokens cannot be bounded by the body's.
 */
export function carriesInlineMedia(value: unknown): boolean {
  return anyEntry(value, (key, inner) => {
    if (key !== 'inlineData' || typeof inner !== 'object' || inner === null) return false;
    const type = (inner as { mimeType?: unknown }).mimeType;
    return typeof type !== 'string' || !type.startsWith('text/');
  });
}
