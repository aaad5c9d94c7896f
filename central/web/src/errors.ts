import { ApiError } from "./api";
import { t } from "./i18n";

/** What to tell the user of a failed request. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.status === 403 ? t("error.forbidden") : error.message;
  return t("error.network");
}
