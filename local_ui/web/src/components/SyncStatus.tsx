import { useEffect, useState } from "react";
import { api } from "../api/client";
import type { SyncStatus as Status } from "../api/types";
import { t } from "../i18n";

const POLL_MS = 30_000;

/** What waits in the outbox for central; nothing at all on an appliance that is not enrolled. */
export function SyncStatus() {
  const [status, setStatus] = useState<Status | null>(null);
  useEffect(() => {
    let stopped = false;
    const poll = () => api.sync().then((s) => !stopped && setStatus(s), () => undefined);
    poll();
    const timer = window.setInterval(poll, POLL_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, []);
  if (!status?.enrolled) return null;
  return (
    <span data-testid="sync-status" data-backlog={status.backlog} className="topbar-sync muted">
      {status.backlog > 0 ? t("sync.waiting", { n: status.backlog }) : t("sync.done")}
    </span>
  );
}
