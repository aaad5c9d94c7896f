// One binary live frame: a big-endian uint32 N, N bytes of UTF-8 JSON header, then the JPEG.
import type { FrameHeader } from "../api/types";

export interface ParsedFrame {
  header: FrameHeader;
  jpeg: Blob;
}

const decoder = new TextDecoder();

export function parseFrame(data: ArrayBuffer): ParsedFrame {
  if (data.byteLength < 4) throw new Error("live frame too short");
  const headerLength = new DataView(data).getUint32(0);
  if (4 + headerLength > data.byteLength) throw new Error("live frame header overruns the message");
  const header = JSON.parse(decoder.decode(new Uint8Array(data, 4, headerLength))) as FrameHeader;
  return { header, jpeg: new Blob([new Uint8Array(data, 4 + headerLength)], { type: "image/jpeg" }) };
}
