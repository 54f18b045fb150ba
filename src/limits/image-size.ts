/** An image's size in pixels, as its decoder reads it from the header. */
export interface ImageSize {
  width: number;
  height: number;
}

/**
 * The most of an image's bytes read for its size: a JPEG's frame header follows its metadata
 * segments (EXIF, ICC profiles, XMP), each at most 64 KiB; one further on is not looked for.
 */
const HEAD_BYTES = 256 * 1024;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The size of a PNG, JPEG or still WebP image from its base64 data (the part after a data URL's
 * comma), by its bytes whatever type the client named; undefined for another format, an animation
 * (its frames may each be counted), or a header that does not say.
 */
export function imageSize(base64: string): ImageSize | undefined {
  // Four base64 characters are three bytes: a prefix of whole groups decodes to the head.
  const head = Buffer.from(base64.slice(0, (HEAD_BYTES / 3) * 4), 'base64');
  if (head.subarray(0, 8).equals(PNG_SIGNATURE)) return pngSize(head);
  if (head[0] === 0xff && head[1] === 0xd8) return jpegSize(head);
  if (head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP')
    return webpSize(head);
  return undefined;
}

const sized = (width: number, height: number): ImageSize | undefined =>
  width > 0 && height > 0 ? { width, height } : undefined;

/** IHDR comes first; an acTL chunk before the image data makes it an animation (APNG). */
function pngSize(head: Buffer): ImageSize | undefined {
  if (head.length < 24 || head.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  for (let at = 8; at + 8 <= head.length; ) {
    const type = head.toString('latin1', at + 4, at + 8);
    if (type === 'acTL') return undefined;
    if (type === 'IDAT') return sized(head.readUInt32BE(16), head.readUInt32BE(20));
    at += 12 + head.readUInt32BE(at);
  }
  return undefined;
}

/** Start-of-frame markers (C0–CF but for DHT C4, JPG C8 and DAC CC): they carry the frame's size. */
const isFrameStart = (marker: number): boolean =>
  marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

/**
 * Markers of the segments a decoder reads or skips by their length before the frame header: DHT,
 * DAC, DQT, DNL, DRI, APPn and COM (libjpeg refuses any other).
 */
const isSkippedSegment = (marker: number): boolean =>
  marker === 0xc4 ||
  marker === 0xcc ||
  (marker >= 0xdb && marker <= 0xdd) ||
  (marker >= 0xe0 && marker <= 0xef) ||
  marker === 0xfe;

/**
 * The first frame header's size, reached segment by segment from the start of the image. Anything
 * a decoder would step over by searching for the next marker (stray bytes, `FF 00`, a marker of no
 * segment, a length below its own two bytes) ends the walk unsized: a decoder that searches on
 * may find a frame where the walk, skipping by lengths, would find another (a 1 × 1 frame header
 * inside an APP1 segment that the decoder passes over, in front of the image's real one).
 */
function jpegSize(head: Buffer): ImageSize | undefined {
  let at = 2;
  while (at + 4 <= head.length) {
    if (head[at] !== 0xff) return undefined;
    const marker = head[at + 1]!;
    // Fill bytes before a marker, and the markers that stand alone (TEM, RSTn).
    if (marker === 0xff) at++;
    else if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) at += 2;
    else if (isFrameStart(marker)) {
      // Length (2), precision (1), then the lines and samples per line; 0 lines: set later (DNL).
      return at + 9 <= head.length ? sized(head.readUInt16BE(at + 7), head.readUInt16BE(at + 5)) : undefined;
    } else if (isSkippedSegment(marker)) {
      const length = head.readUInt16BE(at + 2);
      if (length < 2) return undefined;
      at += 2 + length;
    }
    // The scan (SOS) or the end (EOI) before any frame header, `FF 00`, SOI again: no size to read.
    else return undefined;
  }
  return undefined;
}

/** A lossy (VP8), lossless (VP8L) or extended (VP8X) WebP; an animated one is not sized. */
function webpSize(head: Buffer): ImageSize | undefined {
  if (head.length < 30) return undefined;
  switch (head.toString('latin1', 12, 16)) {
    case 'VP8 ':
      // A key frame's start code, then 14-bit width and height.
      if (head[23] !== 0x9d || head[24] !== 0x01 || head[25] !== 0x2a) return undefined;
      return sized(head.readUInt16LE(26) & 0x3fff, head.readUInt16LE(28) & 0x3fff);
    case 'VP8L': {
      if (head[20] !== 0x2f) return undefined;
      const bits = head.readUInt32LE(21);
      return sized((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
    }
    case 'VP8X': {
      const ANIMATION = 0x02;
      if ((head[20]! & ANIMATION) !== 0) return undefined;
      return sized(head.readUIntLE(24, 3) + 1, head.readUIntLE(27, 3) + 1);
    }
    default:
      return undefined;
  }
}
