import type { CSSProperties } from "react";
import type { Camera } from "../api/types";
import { CameraFeed } from "../components/CameraFeed";
import { t } from "../i18n";
import { useCameras, useConnection, useFrame, useWatch } from "../live/hooks";
import { paths } from "../router";

export function LiveGridPage() {
  const cameras = useCameras();
  const connection = useConnection();
  useWatch(
    cameras.map((camera) => camera.name),
    "grid",
  );
  if (cameras.length === 0) {
    return <p className="notice">{connection === "live" ? t("live.noCameras") : t("common.loading")}</p>;
  }
  return (
    <div className="live-grid" style={{ "--columns": Math.ceil(Math.sqrt(cameras.length)) } as CSSProperties}>
      {cameras.map((camera) => (
        <LiveTile key={camera.name} camera={camera} />
      ))}
    </div>
  );
}

function LiveTile({ camera }: { camera: Camera }) {
  const frames = useFrame(camera.name)?.count ?? 0;
  return (
    <a
      className="live-tile"
      href={paths.camera(camera.name)}
      data-testid="live-tile"
      data-camera={camera.name}
      data-state={camera.state}
      data-frames={frames}
    >
      <CameraFeed camera={camera} />
      <span className="live-tile-caption">
        <strong>{camera.name}</strong>
        <span className={`state state--${camera.state}`}>{t(`cameraState.${camera.state}`)}</span>
      </span>
    </a>
  );
}
