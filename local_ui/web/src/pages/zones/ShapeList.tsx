import type { ReactNode } from "react";
import { t } from "../../i18n";
import { ClassesInput } from "./ClassesInput";
import type { Draft, ShapeRef } from "./draft";

interface Props {
  draft: Draft;
  selected: ShapeRef | null;
  onSelect(shape: ShapeRef): void;
  onRename(shape: ShapeRef, name: string): void;
  onClasses(zoneIndex: number, classes: string[] | null): void;
  onRemove(shape: ShapeRef): void;
}

/** The zones, lines and privacy masks by name: rename, set a zone's classes, delete. */
export function ShapeList({ draft, selected, onSelect, onRename, onClasses, onRemove }: Props) {
  const row = (shape: ShapeRef, name: string, extra?: ReactNode) => (
    <li
      key={`${shape.kind}-${shape.index}`}
      className={selected?.kind === shape.kind && selected.index === shape.index ? "shape-row shape-row--selected" : "shape-row"}
      onFocus={() => onSelect(shape)}
      onClick={() => onSelect(shape)}
    >
      <input aria-label={t("zones.name")} value={name} onChange={(event) => onRename(shape, event.target.value)} />
      {extra}
      <button type="button" className="button button--danger" onClick={() => onRemove(shape)}>
        {t("common.delete")}
      </button>
    </li>
  );
  return (
    <div className="shape-list">
      <h2>{t("zones.zones")}</h2>
      {draft.zones.length === 0 && <p className="muted">{t("zones.noZones")}</p>}
      <ul>
        {draft.zones.map((zone, index) =>
          row({ kind: "zone", index }, zone.name, (
            <ClassesInput value={zone.classes} onChange={(classes) => onClasses(index, classes)} />
          )),
        )}
      </ul>
      <h2>{t("zones.lines")}</h2>
      {draft.lines.length === 0 && <p className="muted">{t("zones.noLines")}</p>}
      <ul>{draft.lines.map((line, index) => row({ kind: "line", index }, line.name))}</ul>
      <h2>{t("zones.masks")}</h2>
      <p className="muted">{draft.privacy_masks.length === 0 ? t("zones.noMasks") : t("zones.masksHelp")}</p>
      <ul>{draft.privacy_masks.map((mask, index) => row({ kind: "mask", index }, mask.name))}</ul>
    </div>
  );
}
