import type { Camera } from "../api/types";
import { t } from "../i18n";
import { useFrame, useLayout } from "../live/hooks";
import { Overlay } from "./Overlay";

/**
 * A camera's latest live frame with its overlay, never taller than most of the window; a camera
 * that is not online is shown plainly.
 */
export function CameraFeed({ camera }: { camera: Camera }) {
  const frame = useFrame(camera.name);
  const layout = useLayout(camera.name);
  const online = camera.state === "online";
  const width = frame?.header.width ?? camera.width ?? 16;
  const height = frame?.header.height ?? camera.height ?? 9;
  return (
    <div
      className={online ? "feed" : "feed feed--down"}
      style={{ aspectRatio: `${width} / ${height}`, maxWidth: `calc(70vh * ${width / height})` }}
    >
      {frame?.url ? (
        <img className="feed-image" src={frame.url} alt={camera.name} />
      ) : (
        online && <span className="feed-waiting">{t("live.waiting")}</span>
      )}
      <Overlay layout={layout} tracks={online && frame ? frame.header.tracks : []} />
      {online && camera.behind && (
        <span className="feed-behind" data-testid="feed-behind" title={`${camera.frames_undecoded}`}>
          {t("live.behind")}
        </span>
      )}
      {!online && (
        <div className="feed-status">
          <strong>{t(`cameraState.${camera.state}`)}</strong>
          {camera.last_error && <span>{camera.last_error}</span>}
        </div>
      )}
    </div>
  );
}
