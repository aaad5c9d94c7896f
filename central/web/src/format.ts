// Sizes, times, durations, shares and rates in human units and the interface language.
import { language, t } from "./i18n";

const dateTime = new Intl.DateTimeFormat(language, { dateStyle: "short", timeStyle: "medium" });
const timeOnly = new Intl.DateTimeFormat(language, { timeStyle: "medium" });
const relative = new Intl.RelativeTimeFormat(language, { numeric: "auto" });
const oneDecimal = new Intl.NumberFormat(language, { maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat(language, { maximumFractionDigits: 0 });
const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Epoch seconds as a local date and time; today's without the date. */
export function formatTime(epochSeconds: number): string {
  const when = new Date(epochSeconds * 1000);
  return when.toDateString() === new Date().toDateString() ? timeOnly.format(when) : dateTime.format(when);
}

/** How long ago (or from now) epoch seconds are: "5 minutes ago". */
export function formatAgo(epochSeconds: number, now: number = Date.now() / 1000): string {
  const seconds = epochSeconds - now;
  const size = Math.abs(seconds);
  if (size < 60) return relative.format(Math.round(seconds), "second");
  if (size < 3600) return relative.format(Math.round(seconds / 60), "minute");
  if (size < 86400) return relative.format(Math.round(seconds / 3600), "hour");
  return relative.format(Math.round(seconds / 86400), "day");
}

/** Bytes in binary units: 81939927040 → "76.3 GiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${(unit === 0 ? whole : oneDecimal).format(value)} ${BYTE_UNITS[unit]}`;
}

/** A duration in its two largest units: "45 s", "12 min 5 s", "3 h 20 min", "2 d 4 h". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("duration.s", { s });
  if (s < 3600) return t("duration.min", { m: Math.floor(s / 60), s: s % 60 });
  if (s < 86400) return t("duration.h", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  return t("duration.d", { d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) });
}

/** A share (0..1) as a percentage; null as a dash. */
export function formatShare(share: number | null | undefined): string {
  return share === null || share === undefined ? t("common.none") : `${oneDecimal.format(share * 100)}%`;
}

export function formatNumber(value: number): string {
  return oneDecimal.format(value);
}
