"""Versioned datasets of hard examples, their review, and their export as COCO (images + annotations.json).

A version is a frozen list of examples: `create` takes every example not rejected at that moment. An example's
labels are its reviewed ones when an operator accepted or fixed it, else central's. COCO category ids are the
class's position in the model's class list plus one (COCO's own 1..90 ids have gaps; the names say which is which).
"""
from __future__ import annotations

import json
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from vigia.inference.coco import COCO_CLASSES

REVIEWS = ("accepted", "rejected", "fixed")


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
    cursor = await conn.execute(
        "UPDATE hard_examples SET review = %s, reviewed_labels = %s, reviewed_by = %s, reviewed_at = now()"
        " WHERE id = %s RETURNING id", [decision, None if labels is None else Jsonb(labels), reviewer, example_id])
    if await cursor.fetchone() is None:
        raise ValueError(f"no hard example {example_id}")


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
