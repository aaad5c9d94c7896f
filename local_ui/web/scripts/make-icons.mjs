// Writes public/icon-192.png and public/icon-512.png: the drawing of public/icon.svg (an eye on
// a dark square) rendered without dependencies. Run with `npm run icons` after changing it.
import { writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

const BACKGROUND = [0x0b, 0x0f, 0x14];
const OUTLINE = [0x4c, 0xc9, 0xf0];
const PUPIL = [0xff, 0x3b, 0x3b];

// In units of a 512 square: the eye is the overlap of two circles through (64,256) and (448,256).
const HALF_WIDTH = 192;
const HALF_HEIGHT = 100;
const RADIUS = (HALF_WIDTH ** 2 / HALF_HEIGHT + HALF_HEIGHT) / 2;
const OFFSET = RADIUS - HALF_HEIGHT;
const STROKE = 18;

function inEye(x, y, grow) {
  const r = RADIUS + grow;
  return Math.hypot(x - 256, y - 256 - OFFSET) <= r && Math.hypot(x - 256, y - 256 + OFFSET) <= r;
}

function colourAt(x, y) {
  if (Math.hypot(x - 256, y - 256) <= 72) return PUPIL;
  if (inEye(x, y, STROKE) && !inEye(x, y, -STROKE)) return OUTLINE;
  return BACKGROUND;
}

function render(size) {
  const samples = 4; // per axis, for smooth edges
  const rows = [];
  for (let py = 0; py < size; py++) {
    const row = [0]; // PNG filter type 0
    for (let px = 0; px < size; px++) {
      const sum = [0, 0, 0];
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const colour = colourAt(((px + (sx + 0.5) / samples) * 512) / size, ((py + (sy + 0.5) / samples) * 512) / size);
          colour.forEach((value, channel) => (sum[channel] += value));
        }
      }
      row.push(...sum.map((value) => Math.round(value / samples ** 2)));
    }
    rows.push(Buffer.from(row));
  }
  return png(size, Buffer.concat(rows));
}

function png(size, pixels) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(pixels, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

for (const size of [192, 512]) {
  writeFileSync(new URL(`../public/icon-${size}.png`, import.meta.url), render(size));
}
