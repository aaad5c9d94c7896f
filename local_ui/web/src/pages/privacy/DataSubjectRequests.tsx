// Data-subject requests (admin; a part of the Privacy page): find a camera's events and recordings over a window, or erase them here and at
// central; the requests made with their receipts, and whether the audit log's hash chain holds.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api } from "../../api/client";
import { t } from "../../i18n";
import { errorMessage } from "../../lib/errors";
import type { Camera } from "../../api/types";

type Kind = "find" | "erase";

function epoch(local: string): number {
  return new Date(local).getTime() / 1000;
}

function when(seconds: number): string {
  return new Date(seconds * 1000).toLocaleString();
}

export function DataSubjectRequests({ cameras }: { cameras: Camera[] }) {
  const [camera, setCamera] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [reason, setReason] = useState("");
  const [result, setResult] = useState<unknown>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [requests, setRequests] = useState<Record<string, unknown>[]>([]);
  const [chain, setChain] = useState<{ ok: boolean; entries: number; reason: string } | null>(null);

  const refresh = useCallback(() => {
    api.privacyRequests().then((reply) => setRequests(reply.requests as Record<string, unknown>[]), () => undefined);
    api.auditChain().then(setChain, () => undefined);
  }, []);
  useEffect(refresh, [refresh]);

  const submit = (kind: Kind) => async (event?: FormEvent) => {
    event?.preventDefault();
    if (kind === "erase" && !window.confirm(t("privacy.confirmErase", { camera }))) return;
    setBusy(true);
    setError("");
    try {
      setResult(await api.privacyRequest({ kind, camera, from: epoch(from), to: epoch(to), reason }));
    } catch (exc) {
      setError(errorMessage(exc));
      setResult(null);
    } finally {
      setBusy(false);
      refresh();
    }
  };

  const ready = camera !== "" && from !== "" && to !== "";
  return (
    <div className="privacy">
      <h2>{t("privacy.requestsTitle")}</h2>
      {chain && (
        <p data-testid="audit-chain" className={chain.ok ? "notice" : "notice notice--error"}>
          {chain.ok ? t("privacy.chainOk", { n: chain.entries }) : t("privacy.chainBroken", { reason: chain.reason })}
        </p>
      )}
      <form className="privacy-form" onSubmit={submit("find")}>
        <label>
          {t("privacy.camera")}
          <select data-testid="privacy-camera" value={camera} onChange={(e) => setCamera(e.target.value)}>
            <option value="" />
            {cameras.map((c) => (
              <option key={c.name} value={c.name}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("privacy.from")}
          <input data-testid="privacy-from" type="datetime-local" step="1" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label>
          {t("privacy.to")}
          <input data-testid="privacy-to" type="datetime-local" step="1" value={to} onChange={(e) => setTo(e.target.value)} />
        </label>
        <label>
          {t("privacy.reason")}
          <input data-testid="privacy-reason" maxLength={500} value={reason} onChange={(e) => setReason(e.target.value)} />
        </label>
        <button data-testid="privacy-find" className="button" type="submit" disabled={!ready || busy}>
          {t("privacy.find")}
        </button>
        <button data-testid="privacy-erase" className="button button--danger" type="button"
          disabled={!ready || !reason.trim() || busy} onClick={() => submit("erase")()}>
          {t("privacy.erase")}
        </button>
      </form>
      {error && <p data-testid="privacy-error" className="notice notice--error">{error}</p>}
      {result !== null && <pre data-testid="privacy-result" className="privacy-result">{JSON.stringify(result, null, 2)}</pre>}
      <h3>{t("privacy.requests")}</h3>
      <table className="privacy-requests">
        <thead>
          <tr>
            <th>{t("privacy.when")}</th>
            <th>{t("privacy.kind")}</th>
            <th>{t("privacy.camera")}</th>
            <th>{t("privacy.window")}</th>
            <th>{t("privacy.by")}</th>
            <th>{t("privacy.requestState")}</th>
          </tr>
        </thead>
        <tbody>
          {requests.map((r) => (
            <tr key={String(r.id)} data-testid="privacy-request">
              <td>{when(Number(r.created_at))}</td>
              <td>{String(r.kind)}</td>
              <td>{String(r.camera)}</td>
              <td>
                {when(Number(r.from))} – {when(Number(r.to))}
              </td>
              <td>{String(r.requested_by)}</td>
              <td>{String(r.state)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
