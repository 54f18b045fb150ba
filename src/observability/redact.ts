/**
 * The single redaction path: every log line (and any text that may carry a secret, such as an
 * upstream error body) passes through `redact` before it leaves the process.
 */
const MASK = '[REDACTED]';
/** Shorter literals would mask ordinary words; keys that short are refused at load instead. */
export const MIN_SECRET_LENGTH = 8;

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
  private matcher: RegExp;

  constructor(secrets: Iterable<string> = []) {
    for (const secret of secrets) this.addSecretForm(secret);
    this.matcher = this.build();
  }

  /** Registers a secret value; from now on it and its base64 forms are masked. */
  addSecret(secret: string): void {
    if (this.addSecretForm(secret)) this.matcher = this.build();
  }

  redact(text: string): string {
    const masked = text.replace(this.matcher, keepPrefix);
    // Scanning for this shape costs more than all the others together, so only lines that can
    // hold it are scanned.
    return masked.includes('***') ? masked.replace(HALF_MASKED_KEY, MASK) : masked;
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

  private build(): RegExp {
    // Longest first so that a secret containing another is masked whole.
    const literals = [...this.secrets].sort((a, b) => b.length - a.length).map(escapeRegExp);
    return new RegExp([...literals, ...PATTERNS].join('|'), 'g');
  }
}
