import { useEffect, useState } from "react";
import { api } from "../../api/client";
import type { Layout, Point } from "../../api/types";
import { t } from "../../i18n";
import { errorMessage } from "../../lib/errors";
import { live } from "../../live/store";
import { paths } from "../../router";
import {
  addLine,
  addMask,
  addRule,
  addZone,
  draftOf,
  moveVertex,
  removeRule,
  removeShape,
  renameShape,
  setRule,
  setZoneClasses,
  type Draft,
  type ShapeRef,
} from "./draft";
import { RulesTable } from "./RulesTable";
import { ShapeList } from "./ShapeList";
import { ZoneCanvas, type Drawing } from "./ZoneCanvas";

/** Draw and edit a camera's zones, lines and rules; Save applies them live (#/zones/<camera>). */
export function ZoneEditorPage({ camera }: { camera: string }) {
  const [layout, setLayout] = useState<Layout | null>(null); // as last loaded or saved
  const [draft, setDraft] = useState<Draft | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [selected, setSelected] = useState<ShapeRef | null>(null);
  const [drawing, setDrawing] = useState<Drawing | null>(null);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [savedNow, setSavedNow] = useState(false);

  useEffect(() => {
    api.layout(camera).then(
      (loaded) => {
        setLayout(loaded);
        setDraft(draftOf(loaded));
      },
      (failure: unknown) => setLoadError(errorMessage(failure)),
    );
  }, [camera]);

  if (loadError) return <p className="notice notice--error">{loadError}</p>;
  if (!layout || !draft) return <p className="notice">{t("common.loading")}</p>;

  const edit = (changed: Draft) => {
    setDraft(changed);
    setSavedNow(false);
  };

  const startDrawing = (kind: Drawing["kind"]) => {
    setSelected(null);
    setDrawing({ kind, points: [] });
  };

  const finishZone = (points: Point[]) => {
    if (drawing?.kind === "mask") {
      edit(addMask(draft, points));
      setSelected({ kind: "mask", index: draft.privacy_masks.length });
    } else {
      edit(addZone(draft, points));
      setSelected({ kind: "zone", index: draft.zones.length });
    }
    setDrawing(null);
  };

  const addPoint = (point: Point, closes: boolean) => {
    if (!drawing) return;
    if (closes) return finishZone(drawing.points);
    const points = [...drawing.points, point];
    if (drawing.kind === "line" && points.length === 2) {
      edit(addLine(draft, points as [Point, Point]));
      setSelected({ kind: "line", index: draft.lines.length });
      setDrawing(null);
    } else {
      setDrawing({ ...drawing, points });
    }
  };

  const remove = (shape: ShapeRef) => {
    edit(removeShape(draft, shape));
    setSelected(null);
  };

  async function save() {
    if (!draft) return;
    setSaving(true);
    setSaveError(null);
    try {
      const saved = await api.saveLayout(camera, draft);
      setLayout(saved);
      setDraft(draftOf(saved));
      live.setLayout(camera, saved);
      setSavedNow(true);
    } catch (failure) {
      setSaveError(errorMessage(failure));
    }
    setSaving(false);
  }

  const unsaved = JSON.stringify(draft) !== JSON.stringify(draftOf(layout));
  return (
    <div className="zone-editor">
      <p className="page-links">
        <a href={paths.zones}>← {t("zones.cameras")}</a>
      </p>
      <h1>{t("zones.title", { camera })}</h1>
      <div className="zone-toolbar">
        {drawing ? (
          <>
            <span className="hint">
              {t(drawing.kind === "zone" ? "zones.hintZone" : drawing.kind === "mask" ? "zones.hintMask" : "zones.hintLine")}
            </span>
            {drawing.kind !== "line" && (
              <button
                type="button"
                className="button button--primary"
                disabled={drawing.points.length < 3}
                onClick={() => finishZone(drawing.points)}
              >
                {t("zones.finish")}
              </button>
            )}
            <button type="button" className="button button--quiet" onClick={() => setDrawing(null)}>
              {t("common.cancel")}
            </button>
          </>
        ) : (
          <>
            <button type="button" className="button" onClick={() => startDrawing("zone")}>
              {t("zones.addZone")}
            </button>
            <button type="button" className="button" onClick={() => startDrawing("line")}>
              {t("zones.addLine")}
            </button>
            <button data-testid="add-mask" type="button" className="button" onClick={() => startDrawing("mask")}>
              {t("zones.addMask")}
            </button>
            {selected && (
              <button type="button" className="button button--danger" onClick={() => remove(selected)}>
                {t("zones.deleteSelected")}
              </button>
            )}
            <span className="hint">{t("zones.hintEdit")}</span>
          </>
        )}
      </div>
      <div className="zone-workspace">
        <ZoneCanvas
          imageUrl={api.frameUrl(camera)}
          width={layout.width || 16}
          height={layout.height || 9}
          draft={draft}
          selected={selected}
          drawing={drawing}
          onPoint={addPoint}
          onSelect={setSelected}
          onMoveVertex={(shape, vertex, to) => edit(moveVertex(draft, shape, vertex, to))}
        />
        <ShapeList
          draft={draft}
          selected={selected}
          onSelect={setSelected}
          onRename={(shape, name) => edit(renameShape(draft, shape, name))}
          onClasses={(index, classes) => edit(setZoneClasses(draft, index, classes))}
          onRemove={remove}
        />
      </div>
      <RulesTable
        draft={draft}
        onChange={(index, rule) => edit(setRule(draft, index, rule))}
        onAdd={() => edit(addRule(draft))}
        onRemove={(index) => edit(removeRule(draft, index))}
      />
      <div className="zone-savebar">
        <button data-testid="zone-save" type="button" className="button button--primary" disabled={saving} onClick={() => void save()}>
          {saving ? t("zones.saving") : t("zones.save")}
        </button>
        {unsaved && <span className="muted">{t("zones.unsaved")}</span>}
        {saveError && (
          <p data-testid="zone-error" className="error" role="alert">
            {saveError}
          </p>
        )}
        {savedNow && !unsaved && (
          <p data-testid="zone-saved" className="success" role="status">
            {t("zones.saved")}
          </p>
        )}
      </div>
    </div>
  );
}
