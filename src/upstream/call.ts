/** A fully built upstream request, relative to the provider's origin. */
export interface UpstreamCall {
  path: string;
  headers: Record<string, string>;
  body: string;
}
