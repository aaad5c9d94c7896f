import { CameraFeed } from "../components/CameraFeed";
import { t } from "../i18n";
import { formatTime } from "../lib/format";
import { useCameras, useConnection, useFrame, useWatch } from "../live/hooks";
import { paths } from "../router";

/** One camera, as big as the screen allows (#/live/<camera>). */
export function CameraPage({ name }: { name: string }) {
  const camera = useCameras().find((candidate) => candidate.name === name);
  const connection = useConnection();
  const frames = useFrame(name)?.count ?? 0;
  useWatch([name], "full");
  if (!camera) {
    return <p className="notice">{connection === "live" ? t("live.unknownCamera", { name }) : t("common.loading")}</p>;
  }
  return (
    <div className="camera-page">
      <p className="page-links">
        <a href={paths.live}>← {t("live.allCameras")}</a>
      </p>
      <div
        className="camera-page-feed"
        data-testid="live-tile"
        data-camera={camera.name}
        data-state={camera.state}
        data-frames={frames}
      >
        <CameraFeed camera={camera} />
      </div>
      <p className="camera-page-facts">
        <strong>{camera.name}</strong>
        <span className={`state state--${camera.state}`}>{t(`cameraState.${camera.state}`)}</span>
        {camera.since !== null && <span>{t("live.since", { time: formatTime(camera.since) })}</span>}
        {camera.recording !== "off" && <span>{t("live.recording")}</span>}
        {camera.width !== null && camera.height !== null && <span>{`${camera.width}×${camera.height}`}</span>}
      </p>
    </div>
  );
}
