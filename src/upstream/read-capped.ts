/**
 * An answer's body as text, read for a log line or an error code only: past `max` characters the
 * rest is cut, so a provider cannot make the gateway buffer more.
 */
export async function readCapped(
  body: AsyncIterable<Uint8Array> & { destroy(): void },
  max: number,
): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    text += Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
    if (text.length > max) {
      body.destroy();
      break;
    }
  }
  return text.slice(0, max);
}
