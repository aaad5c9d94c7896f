import { useState } from "react";
import { api } from "../../api/client";
import type { DiscoveredCamera, ProbeResult, RecordMode } from "../../api/types";
import { t } from "../../i18n";
import { errorMessage } from "../../lib/errors";

interface Props {
  /** A camera added before (a later visit): it can be kept. */
  existing: string | null;
  onAdded(name: string): void;
  onSkip(): void;
}

/** A camera name the appliance accepts, made from what the camera calls itself. */
function nameFrom(label: string | null | undefined): string {
  const name = (label ?? "").toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^[-_]+|-+$/g, "").slice(0, 32);
  return name || "camera1";
}

/** Find a camera (ONVIF discovery, or its RTSP URL), test its stream, choose recording, add it. */
export function CameraStep({ existing, onAdded, onSkip }: Props) {
  const [devices, setDevices] = useState<DiscoveredCamera[] | null>(null);
  const [device, setDevice] = useState<DiscoveredCamera | null>(null);
  const [url, setUrl] = useState("");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [probe, setProbe] = useState<ProbeResult | null>(null);
  const [name, setName] = useState("");
  const [record, setRecord] = useState<RecordMode>("events");
  const [retainDays, setRetainDays] = useState(7);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function run(work: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (failure) {
      setError(errorMessage(failure));
    }
    setBusy(false);
  }

  const discover = () =>
    run(async () => {
      setDevices((await api.discoverCameras()).devices);
    });

  const test = (target: { xaddr: string } | { url: string }) =>
    run(async () => {
      const result = await api.probeCamera(target, username, password);
      setProbe(result);
      setUrl(result.url);
      if (!name) setName(nameFrom(device?.name));
    });

  const add = () =>
    run(async () => {
      const added = await api.addCamera({ name, url, username, password, record, retain_days: retainDays });
      onAdded(added.name);
    });

  return (
    <div className="setup-form setup-form--wide">
      <h1>{t("setup.camera.title")}</h1>
      {existing && (
        <p>
          {t("setup.camera.existing", { name: existing })}{" "}
          <button type="button" className="button button--quiet" onClick={onSkip}>
            {t("setup.camera.keep")}
          </button>
        </p>
      )}
      <div className="setup-buttons">
        <button data-testid="setup-discover" type="button" className="button" disabled={busy} onClick={() => void discover()}>
          {t("setup.camera.discover")}
        </button>
      </div>
      {devices && devices.length === 0 && <p className="muted">{t("setup.camera.noneFound")}</p>}
      {devices && devices.length > 0 && (
        <ul className="setup-devices">
          {devices.map((found) => (
            <li key={found.endpoint}>
              <button
                data-testid="setup-device"
                data-endpoint={found.endpoint}
                type="button"
                className="button"
                aria-pressed={device?.endpoint === found.endpoint}
                onClick={() => setDevice(found)}
              >
                {found.name ?? found.address} <span className="muted">{found.hardware ?? ""} {found.address}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {!device && (
        <label>
          {t("setup.camera.url")}
          <input
            data-testid="setup-rtsp-url"
            placeholder="rtsp://192.168.1.20:554/stream1"
            value={url}
            onChange={(event) => setUrl(event.target.value)}
          />
        </label>
      )}
      <div className="setup-row">
        <label>
          {t("setup.camera.username")}
          <input data-testid="setup-camera-username" autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value)} />
        </label>
        <label>
          {t("setup.camera.password")}
          <input
            data-testid="setup-camera-password"
            type="password"
            autoComplete="off"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
      </div>
      <div className="setup-buttons">
        <button
          data-testid="setup-probe"
          type="button"
          className="button button--primary"
          disabled={busy || (!device && !url)}
          onClick={() => void test(device ? { xaddr: device.xaddr } : { url })}
        >
          {busy ? t("setup.camera.testing") : t("setup.camera.test")}
        </button>
      </div>
      {error && (
        <p data-testid="setup-error" className="error" role="alert">
          {error}
        </p>
      )}
      {probe && (
        <div className="setup-probe" data-testid="setup-probe-result">
          <img data-testid="setup-preview" src={probe.preview} alt={t("setup.camera.preview")} />
          <p data-testid="setup-stream-facts">
            {probe.codec.toUpperCase()} · {probe.width}×{probe.height} · {probe.fps ?? "?"} fps
          </p>
          {probe.profiles && probe.profiles.length > 1 && (
            <label>
              {t("setup.camera.profile")}
              <select value={url} onChange={(event) => void test({ url: event.target.value })}>
                {probe.profiles.map((profile) => (
                  <option key={profile.token} value={profile.url}>
                    {profile.name} ({profile.width}×{profile.height})
                  </option>
                ))}
              </select>
            </label>
          )}
          <div className="setup-row">
            <label>
              {t("setup.camera.name")}
              <input data-testid="setup-camera-name" required value={name} onChange={(e) => setName(e.target.value)} />
            </label>
            <label>
              {t("setup.camera.record")}
              <select data-testid="setup-record" value={record} onChange={(e) => setRecord(e.target.value as RecordMode)}>
                <option value="events">{t("setup.camera.recordEvents")}</option>
                <option value="continuous">{t("setup.camera.recordContinuous")}</option>
                <option value="off">{t("setup.camera.recordOff")}</option>
              </select>
            </label>
            <label>
              {t("setup.camera.retainDays")}
              <input
                data-testid="setup-retain-days"
                type="number"
                min={1}
                max={3650}
                value={retainDays}
                onChange={(e) => setRetainDays(Number(e.target.value))}
              />
            </label>
          </div>
          <div className="setup-buttons">
            <button data-testid="setup-add-camera" type="button" className="button button--primary" disabled={busy || !name} onClick={() => void add()}>
              {t("setup.camera.add")}
            </button>
          </div>
        </div>
      )}
    </div>
  );
}
