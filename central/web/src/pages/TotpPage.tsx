// The TOTP second factor: its state, and the enrolment (QR code and key, a first code, the recovery codes shown once).
// An admin who must enrol (`required`) sees only this page until it is done.
import { useEffect, useState, type FormEvent } from "react";
import { api, ApiError, type TotpEnrolment as Enrolment } from "../api";
import { t } from "../i18n";

const errorMessage = (failure: unknown) => (failure instanceof ApiError ? failure.message : t("error.network"));

export function TotpPage({ required = false, onEnabled }: { required?: boolean; onEnabled(): void }) {
  const [status, setStatus] = useState<{ enabled: boolean; recovery_codes_left: number } | null>(null);
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [code, setCode] = useState("");
  const [recovery, setRecovery] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.totpStatus().then(setStatus, (failure) => setError(errorMessage(failure)));
  }, []);

  async function start() {
    setError(null);
    try {
      setEnrolment(await api.totpEnrol());
    } catch (failure) {
      setError(errorMessage(failure));
    }
  }

  async function confirm(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      setRecovery((await api.totpConfirm(code)).recovery_codes);
      setEnrolment(null);
    } catch (failure) {
      setError(failure instanceof ApiError && failure.status === 422 ? t("totp.wrongCode") : errorMessage(failure));
    }
  }

  return (
    <main className="page totp" data-testid="totp-page">
      <h1>{t("totp.title")}</h1>
      {required && <p className="notice">{t("totp.required")}</p>}
      {recovery ? (
        <>
          <p>{t("totp.recovery")}</p>
          <ul data-testid="totp-recovery-codes" className="totp__recovery">
            {recovery.map((item) => (
              <li key={item}>
                <code>{item}</code>
              </li>
            ))}
          </ul>
          <button data-testid="totp-done" type="button" onClick={onEnabled}>
            {t("totp.done")}
          </button>
        </>
      ) : enrolment ? (
        <form onSubmit={confirm} className="totp__enrol">
          <p>{t("totp.scan")}</p>
          {/* The server's own SVG (the qrcode library's path, no scripts): inline, as the pages' CSP allows no data: images. */}
          <div className="totp__qr" data-testid="totp-qr" dangerouslySetInnerHTML={{ __html: enrolment.qr_svg }} />
          <p>
            {t("totp.secret")}: <code data-testid="totp-secret">{enrolment.secret}</code>
          </p>
          <label>
            {t("totp.code")}
            <input
              data-testid="totp-code"
              inputMode="numeric"
              autoComplete="one-time-code"
              pattern="[0-9]{6}"
              required
              value={code}
              onChange={(event) => setCode(event.target.value.trim())}
            />
          </label>
          <button data-testid="totp-confirm" type="submit" className="button button--primary">
            {t("totp.confirm")}
          </button>
        </form>
      ) : status?.enabled ? (
        <p data-testid="totp-enabled">{t("totp.enabled", { n: status.recovery_codes_left })}</p>
      ) : (
        status && (
          <>
            <p>{t("totp.off")}</p>
            <button data-testid="totp-start" type="button" onClick={start}>
              {t("totp.start")}
            </button>
          </>
        )
      )}
      {error && (
        <p className="notice notice--error" role="alert">
          {error}
        </p>
      )}
    </main>
  );
}
