/**
 * The single redaction path: every log line (and any text that may carry a secret, such as an
 * upstream error body) passes through `redact` before it leaves the process.
 */
const MASK = '[REDACTED]';
/** Shorter literals would mask ordinary words; keys that short are refused at load instead. */
export const MIN_SECRET_LENGTH = 8;
/**
 * V8 cannot compile a regular expression one of whose alternatives is 32 Ki characters or longer
 * ("Regular expression too large", thrown at its first use with the whole pattern, every secret
 * in it, as the message). A form longer than this is searched for as a string instead; real keys'
 * forms are a few hundred characters.
 */
const MAX_PATTERN_LITERAL = 2048;
/** The secrets' alternation is cut into regular expressions of at most this many characters each. */
const MAX_PATTERN_CHARS = 64 * 1024;

/**
 * Shapes of credentials that must never be written even when their value is not known. A pattern
 * may start with a capture group: the group is kept and only the rest is masked. Every pattern
 * starts with a literal or a narrow class, so the scan rejects most positions at once (lookbehinds
 * would be tried at every position of every line).
 */
const PATTERNS: ReadonlyArray<string> = [
  // Authorization header values and bearer tokens in free text.
  String.raw`(\b(?:[Bb]earer|[Bb]asic)\s+)[A-Za-z0-9._~+/=-]{6,}`,
  // OpenAI / Anthropic style keys, Keyward gateway tokens, Google API keys.
  String.raw`\bsk-[A-Za-z0-9_-]{6,}`,
  String.raw`\bkw_[A-Za-z0-9]+_[A-Za-z0-9_-]{6,}`,
  String.raw`\bAIza[0-9A-Za-z_-]{20,}`,
  // JSON or header-ish fields named like credentials: "api_key":"…", x-api-key: …
  // The value may start with its scheme (`Authorization: Bearer …`): masked with it, or the scheme
  // alone would be taken for the value and the credential after it left.
  String.raw`((?:api[_-]?key|x-api-key|x-goog-api-key|api-key|authorization|x-provider-api-key|access_token|refresh_token|client_secret|password)["']?\s*[:=]\s*["']?)(?:(?:[Bb]earer|[Bb]asic)\s+)?[^"'\s,}&]{4,}`,
  // Query-string credentials: ?key=…, &api_key=…
  String.raw`([?&](?:key|api[_-]?key|access_token|token)=)[^&\s"']+`,
];

/** A key that a provider echoes half-masked in an error message (`sk-proj-ab***xyz`). */
const HALF_MASKED_KEY = /[A-Za-z0-9_-]{2,}\*{3,}[A-Za-z0-9_-]*/g;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The forms a secret can take in text: itself, as it reads inside a JSON string (a log line is
 * JSON: a quote or backslash in it is escaped there), and its base64 encodings.
 */
function secretForms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const b64 = bytes.toString('base64');
  const forms = new Set([
    secret,
    JSON.stringify(secret).slice(1, -1),
    b64,
    b64.replace(/=+$/, ''),
    bytes.toString('base64url'),
  ]);
  // base64 of `secret` inside a larger encoded string (`Basic …` of `user:key`, `Bearer key`) is
  // aligned at one of three offsets: at each, the characters that depend on the secret's bytes
  // alone, which still identify it, are masked.
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const head = offset === 0 ? 0 : 4;
    const tail = (offset + bytes.length) % 3 === 0 ? 0 : 4;
    const middle = encoded.slice(head, encoded.length - tail);
    forms.add(middle);
    forms.add(middle.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/** Keeps whichever leading group matched (a header name, `Bearer `, `?key=`) and masks the rest. */
function keepPrefix(_match: string, ...groups: unknown[]): string {
  for (const group of groups) {
    if (typeof group === 'string') return group + MASK;
    if (typeof group === 'number') break;
  }
  return MASK;
}

/** Masks one secret known only for the moment (a client's passthrough key), in all its forms. */
export function maskSecret(text: string, secret: string): string {
  let out = text;
  for (const form of secretForms(secret)) out = out.split(form).join(MASK);
  return out;
}

export class Redactor {
  private readonly secrets = new Set<string>();
  /** Forms too long for a regular expression, longest first. */
  private long: string[] = [];
  /** The other forms, longest first, in bounded chunks; the last also matches the credential shapes. */
  private matchers: RegExp[] = [];

  constructor(secrets: Iterable<string> = []) {
    for (const secret of secrets) this.addSecretForm(secret);
    this.build();
  }

  /** Registers a secret value; from now on it and its base64 forms are masked. */
  addSecret(secret: string): void {
    if (this.addSecretForm(secret)) this.build();
  }

  /**
   * `text` with every secret masked. Should masking fail, `withheld` is returned in its place: a
   * text that could not be cleared must not leave the process, and the error would quote secrets.
   */
  redact(text: string, withheld = MASK): string {
    try {
      let masked = text;
      for (const form of this.long) if (masked.includes(form)) masked = masked.split(form).join(MASK);
      for (const matcher of this.matchers) masked = masked.replace(matcher, keepPrefix);
      // Scanning for this shape costs more than all the others together, so only lines that can
      // hold it are scanned.
      return masked.includes('***') ? masked.replace(HALF_MASKED_KEY, MASK) : masked;
    } catch {
      return withheld;
    }
  }

  private addSecretForm(secret: string): boolean {
    if (secret.length < MIN_SECRET_LENGTH) return false;
    let added = false;
    for (const form of secretForms(secret)) {
      if (!this.secrets.has(form)) {
        this.secrets.add(form);
        added = true;
      }
    }
    return added;
  }

  private build(): void {
    // Longest first so that a secret containing another is masked whole; literals before shapes,
    // so that a shape never masks part of a known secret and leaves the rest.
    const forms = [...this.secrets].sort((a, b) => b.length - a.length);
    this.long = forms.filter((form) => form.length > MAX_PATTERN_LITERAL);
    const chunks: string[][] = [[]];
    let chars = 0;
    for (const form of forms.filter((f) => f.length <= MAX_PATTERN_LITERAL).map(escapeRegExp)) {
      if (chars + form.length > MAX_PATTERN_CHARS) {
        chunks.push([]);
        chars = 0;
      }
      chunks.at(-1)!.push(form);
      chars += form.length + 1;
    }
    chunks.at(-1)!.push(...PATTERNS);
    this.matchers = chunks.map((chunk) => new RegExp(chunk.join('|'), 'g'));
  }
}
