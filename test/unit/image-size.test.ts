import { describe, expect, it } from 'vitest';
import { imageSize } from '../../src/limits/image-size.js';

const b64 = (...parts: Buffer[]): string => Buffer.concat(parts).toString('base64');
const u16be = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u16le = (n: number) => Buffer.from([n & 0xff, n >> 8]);
const u24le = (n: number) => Buffer.from([n & 0xff, (n >> 8) & 0xff, n >> 16]);
const u32be = (n: number) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n);
  return out;
};

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const chunk = (type: string, data: Buffer) =>
  Buffer.concat([u32be(data.length), Buffer.from(type, 'latin1'), data, u32be(0)]);
const png = (width: number, height: number, ...before: Buffer[]) =>
  b64(
    PNG_SIGNATURE,
    chunk('IHDR', Buffer.concat([u32be(width), u32be(height), Buffer.from([8, 6, 0, 0, 0])])),
    ...before,
    chunk('IDAT', Buffer.alloc(4)),
  );

/** A JPEG segment: marker, then length (itself included) and data. */
const segment = (marker: number, data: Buffer) =>
  Buffer.concat([Buffer.from([0xff, marker]), u16be(data.length + 2), data]);
const frame = (marker: number, width: number, height: number) =>
  segment(marker, Buffer.concat([Buffer.from([8]), u16be(height), u16be(width), Buffer.from([3])]));
const SOI = Buffer.from([0xff, 0xd8]);

const riff = (fourcc: string, data: Buffer) =>
  b64(
    Buffer.from('RIFF', 'latin1'),
    Buffer.alloc(4),
    Buffer.from('WEBP', 'latin1'),
    Buffer.from(fourcc, 'latin1'),
    u32be(0),
    data,
  );

describe('the size of an image from its header', () => {
  it('reads a PNG, and not an animated one', () => {
    expect(imageSize(png(1920, 1080))).toEqual({ width: 1920, height: 1080 });
    expect(imageSize(png(1920, 1080, chunk('tEXt', Buffer.from('Comment\0hi'))))).toEqual({
      width: 1920,
      height: 1080,
    });
    expect(imageSize(png(1920, 1080, chunk('acTL', Buffer.alloc(8))))).toBeUndefined();
    expect(imageSize(png(0, 1080))).toBeUndefined();
  });

  it("reads a JPEG's first frame header past its metadata, a progressive one too", () => {
    const exif = segment(
      0xe1,
      Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), Buffer.alloc(60_000, 0xff)]),
    );
    const tables = segment(0xdb, Buffer.alloc(65));
    expect(
      imageSize(b64(SOI, segment(0xe0, Buffer.alloc(14)), exif, tables, frame(0xc0, 4032, 3024))),
    ).toEqual({
      width: 4032,
      height: 3024,
    });
    expect(imageSize(b64(SOI, frame(0xc2, 800, 600)))).toEqual({ width: 800, height: 600 });
    // A Huffman table (C4) is not a frame; fill bytes before a marker are skipped.
    expect(
      imageSize(b64(SOI, segment(0xc4, Buffer.alloc(20)), Buffer.from([0xff]), frame(0xc1, 640, 480))),
    ).toEqual({
      width: 640,
      height: 480,
    });
  });

  it('does not size a JPEG whose scan comes first, whose lines are given later, or which is cut short', () => {
    expect(imageSize(b64(SOI, segment(0xda, Buffer.alloc(10)), frame(0xc0, 10, 10)))).toBeUndefined();
    expect(imageSize(b64(SOI, frame(0xc0, 800, 0)))).toBeUndefined();
    // Past the first 256 KiB: five ICC profile segments of 64,000 bytes.
    const profile = Array.from({ length: 5 }, () => segment(0xe2, Buffer.alloc(64_000)));
    expect(imageSize(b64(SOI, ...profile, frame(0xc0, 10, 10)))).toBeUndefined();
    expect(imageSize(b64(SOI, ...profile.slice(1), frame(0xc0, 10, 10)))).toEqual({ width: 10, height: 10 });
    expect(imageSize(b64(SOI, Buffer.from([0x00, 0x01, 0x02, 0x03])))).toBeUndefined();
  });

  it('does not size a JPEG a decoder would read past by searching for its next marker', () => {
    // Stray bytes after SOI, then an APP1 holding a 1 × 1 frame header: a decoder passes over them
    // to the APP1 and skips it whole, reading the 20,000-pixel frame after it; skipped by length
    // as `FF 00 00 06`, the walk would land on the one inside.
    const inside = segment(0xe1, frame(0xc0, 1, 1));
    expect(
      imageSize(b64(SOI, Buffer.from([0xff, 0x00, 0x00, 0x06]), inside, frame(0xc0, 20_000, 20_000))),
    ).toBeUndefined();
    // A marker of no segment a decoder skips by its length (JPG0, EXP), or a length below its own bytes.
    expect(imageSize(b64(SOI, segment(0xf0, Buffer.alloc(4)), frame(0xc0, 10, 10)))).toBeUndefined();
    expect(imageSize(b64(SOI, segment(0xdf, Buffer.alloc(4)), frame(0xc0, 10, 10)))).toBeUndefined();
    expect(imageSize(b64(SOI, Buffer.from([0xff, 0xe1, 0x00, 0x01]), frame(0xc0, 10, 10)))).toBeUndefined();
    // Comments, restart intervals and tables are read past.
    expect(
      imageSize(
        b64(SOI, segment(0xfe, Buffer.from('hi')), segment(0xdd, Buffer.alloc(2)), frame(0xc0, 10, 10)),
      ),
    ).toEqual({ width: 10, height: 10 });
  });

  it('reads a lossy, lossless or extended WebP, and not an animated one', () => {
    const lossy = Buffer.concat([Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]), u16le(1024), u16le(768)]);
    expect(imageSize(riff('VP8 ', lossy))).toEqual({ width: 1024, height: 768 });
    const bits = Buffer.alloc(4);
    bits.writeUInt32LE((2000 - 1) | ((1500 - 1) << 14));
    expect(imageSize(riff('VP8L', Buffer.concat([Buffer.from([0x2f]), bits, Buffer.alloc(8)])))).toEqual({
      width: 2000,
      height: 1500,
    });
    const extended = (flags: number) =>
      riff('VP8X', Buffer.concat([Buffer.from([flags, 0, 0, 0]), u24le(4095), u24le(2047), Buffer.alloc(4)]));
    expect(imageSize(extended(0x10))).toEqual({ width: 4096, height: 2048 });
    expect(imageSize(extended(0x12))).toBeUndefined();
  });

  it('does not size other formats, or data that is no image', () => {
    expect(imageSize(b64(Buffer.from('GIF89a', 'latin1'), u16le(10), u16le(10)))).toBeUndefined();
    expect(imageSize('AAAA')).toBeUndefined();
    expect(imageSize('')).toBeUndefined();
    expect(imageSize('not base64 at all!')).toBeUndefined();
  });
});
