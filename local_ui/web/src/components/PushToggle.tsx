import { useEffect, useState } from "react";
import { t } from "../i18n";
import { errorMessage } from "../lib/errors";
import { disablePush, enablePush, PushDenied, pushState, type PushState } from "../lib/push";

/** "Notifications on this device": alerts as notifications with the app closed and the screen locked. Hidden where the
 * browser or the appliance cannot do Web Push. */
export function PushToggle() {
  const [state, setState] = useState<PushState | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    pushState().then(setState, () => setState("unsupported"));
  }, []);
  if (state === null || state === "unsupported" || state === "unavailable") return null;

  const toggle = async (on: boolean) => {
    setBusy(true);
    setProblem(null);
    try {
      await (on ? enablePush() : disablePush());
      setState(on ? "on" : "off");
    } catch (error) {
      // The browser's own refusals (no push service reachable, a private window) come as DOMExceptions.
      const why = error instanceof DOMException ? error.message : errorMessage(error);
      setProblem(error instanceof PushDenied ? t("push.denied") : t("push.failed", { error: why }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <label className="topbar-push" title={problem ?? undefined}>
      <input
        data-testid="push-toggle"
        type="checkbox"
        checked={state === "on"}
        disabled={busy}
        onChange={(e) => void toggle(e.target.checked)}
      />
      {t("push.toggle")}
      {problem && (
        <span data-testid="push-problem" role="alert" className="muted">
          {" "}
          {problem}
        </span>
      )}
    </label>
  );
}
