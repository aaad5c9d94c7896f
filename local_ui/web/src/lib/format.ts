// Times and durations in the interface language.
import { language, t } from "../i18n";

const dateTime = new Intl.DateTimeFormat(language, { dateStyle: "short", timeStyle: "medium" });
const timeOnly = new Intl.DateTimeFormat(language, { timeStyle: "medium" });

/** Epoch seconds as a local date and time; today's times without the date. */
export function formatTime(epochSeconds: number): string {
  const when = new Date(epochSeconds * 1000);
  return when.toDateString() === new Date().toDateString() ? timeOnly.format(when) : dateTime.format(when);
}

export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return t("duration.seconds", { n: whole });
  if (whole < 3600) return t("duration.minutes", { m: Math.floor(whole / 60), s: whole % 60 });
  return t("duration.hours", { h: Math.floor(whole / 3600), m: Math.floor((whole % 3600) / 60) });
}

export function formatScore(score: number): string {
  return `${Math.round(score * 100)}%`;
}
