import { t } from "../../i18n";
import { useCameras } from "../../live/hooks";
import { paths } from "../../router";

export function ZonePickerPage() {
  const cameras = useCameras();
  return (
    <section className="zone-picker">
      <h1>{t("zones.pick")}</h1>
      {cameras.length === 0 && <p className="muted">{t("live.noCameras")}</p>}
      <ul>
        {cameras.map((camera) => (
          <li key={camera.name}>
            <a className="button" href={paths.zone(camera.name)}>
              {camera.name}
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
