"""Versioned datasets of hard examples, their review, and their export as COCO (images + annotations.json).

A version is a frozen list of examples: `create` takes every example not rejected at that moment. An example's
labels are its reviewed ones when an operator accepted or fixed it, else central's. COCO category ids are the
class's position in the model's class list plus one (COCO's own 1..90 ids have gaps; the names say which is which).
"""
from __future__ import annotations

import json
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigia.inference.coco import COCO_CLASSES

REVIEWS = ("accepted", "rejected", "fixed")
REVIEW_STATES = ("unreviewed", *REVIEWS)
REASONS = ("not_confirmed", "label_differs", "missed", "low_confidence")
MAX_LABELS = 200   # boxes on one frame an operator may give


def check_labels(labels: object) -> list[dict]:
    """Fixed labels as given by an operator (CLI or dashboard): a list of {"label": a class of the model, "box":
    [x1, y1, x2, y2] as shares of the frame, x1 < x2 and y1 < y2}; ValueError naming the item and field otherwise."""
    if not isinstance(labels, list) or len(labels) > MAX_LABELS:
        raise ValueError(f"labels must be a list of at most {MAX_LABELS} boxes")
    checked = []
    for i, item in enumerate(labels):
        if not isinstance(item, dict) or set(item) != {"label", "box"}:
            raise ValueError(f"labels[{i}] must have exactly the fields label and box")
        if item["label"] not in COCO_CLASSES:
            raise ValueError(f"labels[{i}].label must be one of the model's classes (person, car, ...)")
        box = item["box"]
        if (not isinstance(box, list) or len(box) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in box)
                or not (box[0] < box[2] and box[1] < box[3])):
            raise ValueError(f"labels[{i}].box must be [x1, y1, x2, y2] in 0..1 with x1 < x2 and y1 < y2")
        checked.append({"label": item["label"], "box": [round(float(v), 4) for v in box]})
    return checked


async def create(conn: psycopg.AsyncConnection, name: str, created_by: str) -> tuple[int, int]:
    """A new version of `name` with every example not rejected; returns (version, examples)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"dataset:{name}"])
        cursor = await conn.execute("SELECT coalesce(max(version), 0) + 1 FROM datasets WHERE name = %s", [name])
        version = (await cursor.fetchone())[0]
        cursor = await conn.execute("SELECT id FROM hard_examples WHERE review <> 'rejected' ORDER BY id")
        ids = [row[0] for row in await cursor.fetchall()]
        await conn.execute("INSERT INTO datasets (name, version, created_by, examples) VALUES (%s, %s, %s, %s)",
                           [name, version, created_by, len(ids)])
        async with conn.cursor() as cur:
            await cur.executemany("INSERT INTO dataset_examples (name, version, example_id) VALUES (%s, %s, %s)",
                                  [(name, version, i) for i in ids])
    return version, len(ids)


async def listing(conn: psycopg.AsyncConnection) -> list[dict]:
    cursor = await conn.execute("SELECT name, version, created_at, created_by, examples FROM datasets ORDER BY name, version")
    return [{"name": n, "version": v, "created_at": c.isoformat(), "created_by": b, "examples": e}
            for n, v, c, b, e in await cursor.fetchall()]


async def review(conn: psycopg.AsyncConnection, example_id: int, decision: str, reviewer: str,
                 labels: list[dict] | None = None) -> None:
    """Accept, reject or fix (with `labels`) an example; ValueError for an unknown one or a bad decision."""
    if decision not in REVIEWS or (decision == "fixed") != (labels is not None):
        raise ValueError("review is accepted, rejected, or fixed with labels")
    if labels is not None:
        labels = check_labels(labels)
    cursor = await conn.execute(
        "UPDATE hard_examples SET review = %s, reviewed_labels = %s, reviewed_by = %s, reviewed_at = now()"
        " WHERE id = %s RETURNING id", [decision, None if labels is None else Jsonb(labels), reviewer, example_id])
    if await cursor.fetchone() is None:
        raise ValueError(f"no hard example {example_id}")


EXAMPLE_COLUMNS = """x.id, x.job_id::text, x.device_id, x.camera, x.taken_at, x.reason, x.width, x.height, x.labels,
    x.review, x.reviewed_labels, x.reviewed_by, x.reviewed_at"""


async def examples(conn: psycopg.AsyncConnection, *, review: str | None = None, reason: str | None = None,
                   device: str | None = None, camera: str | None = None, limit: int = 24, offset: int = 0) -> list[dict]:
    """Hard examples for review, newest frame first; `review` "unreviewed" gives the ones still waiting."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        f"""SELECT {EXAMPLE_COLUMNS} FROM hard_examples x
            WHERE (%(review)s::text IS NULL OR x.review = %(review)s)
              AND (%(reason)s::text IS NULL OR x.reason = %(reason)s)
              AND (%(device)s::text IS NULL OR x.device_id = %(device)s)
              AND (%(camera)s::text IS NULL OR x.camera = %(camera)s)
            ORDER BY x.taken_at DESC, x.id DESC LIMIT %(limit)s OFFSET %(offset)s""",
        {"review": review, "reason": reason, "device": device, "camera": camera, "limit": limit, "offset": offset})
    return await cursor.fetchall()


async def example(conn: psycopg.AsyncConnection, example_id: int) -> dict | None:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(f"SELECT {EXAMPLE_COLUMNS}, x.key FROM hard_examples x WHERE x.id = %s", [example_id])
    return await cursor.fetchone()


async def export_coco(conn: psycopg.AsyncConnection, s3, bucket: str, name: str, version: int, out: Path) -> dict:
    """Write `out/images/*.jpg` and `out/annotations.json` (COCO); returns the counts."""
    cursor = await conn.execute(
        """SELECT x.id, x.key, x.width, x.height, x.device_id, x.camera, x.taken_at, x.reason,
                  CASE WHEN x.review IN ('accepted', 'fixed') AND x.reviewed_labels IS NOT NULL
                       THEN x.reviewed_labels ELSE x.labels END, x.review
           FROM dataset_examples d JOIN hard_examples x ON x.id = d.example_id
           WHERE d.name = %s AND d.version = %s ORDER BY x.id""", [name, version])
    rows = await cursor.fetchall()
    if not rows:
        cursor = await conn.execute("SELECT 1 FROM datasets WHERE name = %s AND version = %s", [name, version])
        if await cursor.fetchone() is None:
            raise ValueError(f"no dataset {name}@{version}")
    (out / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for example_id, key, width, height, device, camera, taken_at, reason, labels, reviewed in rows:
        file_name = f"images/{example_id}.jpg"
        s3.download_file(bucket, key, str(out / file_name))
        images.append({"id": example_id, "file_name": file_name, "width": width, "height": height,
                       "vigia": {"device_id": device, "camera": camera, "taken_at": taken_at.isoformat(),
                                 "reason": reason, "review": reviewed}})
        for label in labels:
            x1, y1, x2, y2 = label["box"]
            box = [x1 * width, y1 * height, (x2 - x1) * width, (y2 - y1) * height]
            annotations.append({"id": len(annotations) + 1, "image_id": example_id,
                                "category_id": COCO_CLASSES.index(label["label"]) + 1,
                                "bbox": [round(v, 2) for v in box], "area": round(box[2] * box[3], 2), "iscrowd": 0})
    coco = {"info": {"description": f"vigia hard examples {name}@{version}"}, "images": images,
            "annotations": annotations,
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(COCO_CLASSES)]}
    (out / "annotations.json").write_text(json.dumps(coco, indent=1))
    return {"images": len(images), "annotations": len(annotations)}
