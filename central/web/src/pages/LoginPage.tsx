import { useEffect, useState, type FormEvent } from "react";
import { api, ApiError, SSO_LOGIN_URL, type Session, type SsoInfo } from "../api";
import { t } from "../i18n";

export function LoginPage({ onLogin }: { onLogin: (session: Session) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState<SsoInfo | null>(null);

  useEffect(() => {
    api.sso().then(setSso, () => setSso(null)); // no answer: the password form alone
  }, []);
  const passwords = sso === null || sso.password_login;
  const [challenge, setChallenge] = useState<string | null>(null); // the password was right: a code comes next
  const [code, setCode] = useState("");

  const failed = (failure: unknown) => {
    setError(failure instanceof ApiError ? failure.message : t("error.network"));
    setBusy(false);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    api.login(username, password).then((answer) => {
      if ("challenge" in answer) {
        setChallenge(answer.challenge);
        setBusy(false);
      } else onLogin(answer);
    }, failed);
  };

  const submitCode = (event: FormEvent) => {
    event.preventDefault();
    if (!challenge) return;
    setBusy(true);
    setError(null);
    api.loginCode(challenge, code).then(onLogin, (failure: unknown) => {
      setCode("");
      if (failure instanceof ApiError && failure.status === 401) {
        setError(t("login.codeWrong"));
        setBusy(false);
      } else failed(failure);
    });
  };

  if (challenge)
    return (
      <main className="login">
        <form className="login__form" onSubmit={submitCode}>
          <h1>{t("login.title")}</h1>
          <label>
            {t("login.code")}
            <input data-testid="login-code" inputMode="numeric" autoComplete="one-time-code" required autoFocus
              value={code} onChange={(e) => setCode(e.target.value.trim())} />
          </label>
          {error && <p className="notice notice--error" role="alert" data-testid="login-error">{error}</p>}
          <button data-testid="login-code-submit" type="submit" disabled={busy}>{t("login.codeSubmit")}</button>
        </form>
      </main>
    );

  return (
    <main className="login">
      <form className="login__form" onSubmit={submit}>
        <h1>{t("login.title")}</h1>
        {sso?.enabled && (
          <a className="button login__sso" data-testid="login-sso" href={SSO_LOGIN_URL}>
            {sso.button ?? t("login.sso")}
          </a>
        )}
        {passwords && <>
        <label>
          {t("login.username")}
          <input data-testid="login-username" autoComplete="username" required value={username}
            onChange={(e) => setUsername(e.target.value)} />
        </label>
        <label>
          {t("login.password")}
          <input data-testid="login-password" type="password" autoComplete="current-password" required
            value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && <p className="notice notice--error" role="alert" data-testid="login-error">{error}</p>}
        <button data-testid="login-submit" type="submit" disabled={busy}>{t("login.submit")}</button>
        </>}
      </form>
    </main>
  );
}
