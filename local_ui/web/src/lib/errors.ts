import { ApiError } from "../api/client";
import { t } from "../i18n";

/** What to tell the user about a failed request. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.status === 403 ? t("error.forbidden") : error.message;
  return t("error.network");
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}
