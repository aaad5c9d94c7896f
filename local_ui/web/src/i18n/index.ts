// This app's messages, in the language the browser prefers (see @vigia/web-common/i18n).
import { language, translator } from "@vigia/web-common/i18n";
import { en } from "./en";
import { ptBR } from "./pt-BR";

export type MessageKey = keyof typeof en;
export { language };
export const t = translator<MessageKey>({ en, "pt-BR": ptBR });
