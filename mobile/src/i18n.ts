// pt-BR or English, by the phone's language.
import { getLocales } from "expo-localization";

const en = {
  signIn: "Sign in", signOut: "Sign out", central: "Central address", signingIn: "Signing in…",
  alerts: "Alerts", events: "Events", sites: "Sites", noAlerts: "No open alerts", noEvents: "No events",
  acknowledge: "Acknowledge", acknowledged: "Acknowledged", comment: "Comment", send: "Send",
  offline: "Offline: showing the last feed", queued: (n: number) => `${n} action(s) waiting for the network`,
  site: "Site", camera: "Camera", label: "Object", verdict: "Verdict", any: "any", back: "Back",
  verdicts: { confirmed: "confirmed", not_confirmed: "not confirmed", label_differs: "other object" } as Record<string, string>,
  noVerdict: "no verdict yet", clip: "Clip", noClip: "No clip in central", online: "online", offline_: "offline",
  lastSeen: "last seen", level: "level", signedOut: "Your sign-in ended: sign in again", retry: "Retry",
  alertKinds: { device_offline: "Device offline", camera_offline: "Camera offline", backlog: "Backlog growing",
                disk_low: "Disk low", false_alarms: "False alarms" } as Record<string, string>,
};

const pt: typeof en = {
  signIn: "Entrar", signOut: "Sair", central: "Endereço da central", signingIn: "Entrando…",
  alerts: "Alertas", events: "Eventos", sites: "Locais", noAlerts: "Nenhum alerta aberto", noEvents: "Nenhum evento",
  acknowledge: "Reconhecer", acknowledged: "Reconhecido", comment: "Comentário", send: "Enviar",
  offline: "Sem conexão: mostrando o último feed", queued: (n: number) => `${n} ação(ões) aguardando a rede`,
  site: "Local", camera: "Câmera", label: "Objeto", verdict: "Veredito", any: "qualquer", back: "Voltar",
  verdicts: { confirmed: "confirmado", not_confirmed: "não confirmado", label_differs: "outro objeto" },
  noVerdict: "ainda sem veredito", clip: "Clipe", noClip: "Sem clipe na central", online: "online", offline_: "offline",
  lastSeen: "visto por último", level: "nível", signedOut: "Sua sessão terminou: entre de novo", retry: "Tentar de novo",
  alertKinds: { device_offline: "Dispositivo offline", camera_offline: "Câmera offline", backlog: "Fila crescendo",
                disk_low: "Disco quase cheio", false_alarms: "Alarmes falsos" },
};

export type Texts = typeof en;

export function textsFor(languageTag: string | null | undefined): Texts {
  return languageTag?.toLowerCase().startsWith("pt") ? pt : en;
}

export function phoneTexts(): Texts {
  return textsFor(getLocales()[0]?.languageTag);
}
