"""The re-analysis tables in central's PostgreSQL (applied by `vigia.central.migrations`, after the ingest's).

A job is one event's clip looked at again. Its life: `waiting_clip` (the clip is not in the bucket yet; an
`upload_clip` command asks the device once the event has ended) → `ready` (the clip is there) → `queued`
(published to RabbitMQ, confirmed) → `done` (its result committed) or `failed` (dead-lettered, with the error).
A result is written once per job id, in the same transaction that marks the job done.
"""
from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE reanalysis_jobs (
        job_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        device_id text NOT NULL,
        event_id text NOT NULL,
        camera text NOT NULL,
        reason text NOT NULL CHECK (reason IN ('alert', 'sample', 'low_score', 'requested')),
        priority text NOT NULL CHECK (priority IN ('alert', 'normal')),
        state text NOT NULL DEFAULT 'waiting_clip'
            CHECK (state IN ('waiting_clip', 'ready', 'queued', 'done', 'failed')),
        clip_key text,
        clip_requested_at timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        error text,
        requested_by text,
        created_at timestamptz NOT NULL DEFAULT now(),
        queued_at timestamptz,
        finished_at timestamptz
    );
    -- the policy picks an event once, whatever versions of it arrive; requests may add more jobs
    CREATE UNIQUE INDEX reanalysis_jobs_by_policy ON reanalysis_jobs (device_id, event_id) WHERE reason <> 'requested';
    CREATE INDEX reanalysis_jobs_event ON reanalysis_jobs (device_id, event_id);
    CREATE INDEX reanalysis_jobs_open ON reanalysis_jobs (state, created_at) WHERE state IN ('waiting_clip', 'ready', 'queued');

    CREATE TABLE reanalysis_results (
        job_id uuid PRIMARY KEY REFERENCES reanalysis_jobs (job_id),
        device_id text NOT NULL,
        camera text NOT NULL,
        clip_start timestamptz,
        frames integer NOT NULL,
        duration_s real NOT NULL,
        model text NOT NULL,
        detector_share real NOT NULL,
        cpu_s real NOT NULL,
        worker text NOT NULL,
        finished_at timestamptz NOT NULL DEFAULT now()
    );

    -- what central says of each edge event in the clip: confirmed, not_confirmed (a false alarm), label_differs
    CREATE TABLE reanalysis_verdicts (
        job_id uuid NOT NULL REFERENCES reanalysis_results (job_id),
        device_id text NOT NULL,
        event_id text NOT NULL,
        camera text NOT NULL,
        rule text NOT NULL,
        edge_label text NOT NULL,
        verdict text NOT NULL CHECK (verdict IN ('confirmed', 'not_confirmed', 'label_differs')),
        central_label text,
        central_track integer,
        agreement real NOT NULL,
        started_at timestamptz NOT NULL,
        PRIMARY KEY (job_id, event_id)
    );
    CREATE INDEX reanalysis_verdicts_event ON reanalysis_verdicts (device_id, event_id);
    CREATE INDEX reanalysis_verdicts_camera ON reanalysis_verdicts (device_id, camera, started_at);

    -- what central found: its tracks (path decimated) and the events of the camera's rules they make;
    -- `missed` when no edge event of that rule matches
    CREATE TABLE reanalysis_tracks (
        job_id uuid NOT NULL REFERENCES reanalysis_results (job_id),
        track integer NOT NULL,
        label text NOT NULL,
        first_seen real NOT NULL,
        last_seen real NOT NULL,
        max_score real NOT NULL,
        best_t real NOT NULL,
        best_box jsonb NOT NULL,
        path jsonb NOT NULL,
        PRIMARY KEY (job_id, track)
    );
    CREATE TABLE reanalysis_events (
        id bigserial PRIMARY KEY,
        job_id uuid NOT NULL REFERENCES reanalysis_results (job_id),
        device_id text NOT NULL,
        camera text NOT NULL,
        rule text NOT NULL,
        label text NOT NULL,
        track integer,
        start real NOT NULL,
        "end" real,
        started_at timestamptz,
        max_score real NOT NULL,
        box jsonb NOT NULL,
        missed boolean NOT NULL,
        matched_event_id text
    );
    CREATE INDEX reanalysis_events_job ON reanalysis_events (job_id);
    CREATE INDEX reanalysis_events_missed ON reanalysis_events (device_id, camera, started_at) WHERE missed;
    """,
]
MIGRATIONS.append(
    # 2: hard examples (frames where edge and central disagree, or central is unsure) and versioned datasets of them
    """
    CREATE TABLE hard_examples (
        id bigserial PRIMARY KEY,
        job_id uuid NOT NULL REFERENCES reanalysis_results (job_id),
        device_id text NOT NULL,
        camera text NOT NULL,
        taken_at timestamptz NOT NULL,
        reason text NOT NULL CHECK (reason IN ('not_confirmed', 'label_differs', 'missed', 'low_confidence')),
        key text NOT NULL,
        width integer NOT NULL,
        height integer NOT NULL,
        labels jsonb NOT NULL,
        review text NOT NULL DEFAULT 'unreviewed' CHECK (review IN ('unreviewed', 'accepted', 'rejected', 'fixed')),
        reviewed_labels jsonb,
        reviewed_by text,
        reviewed_at timestamptz
    );
    -- the privacy erasure of a person's footage finds frames by their source
    CREATE INDEX hard_examples_source ON hard_examples (device_id, camera, taken_at);
    CREATE TABLE datasets (
        name text NOT NULL,
        version integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL,
        examples integer NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE dataset_examples (
        name text NOT NULL,
        version integer NOT NULL,
        example_id bigint NOT NULL REFERENCES hard_examples (id),
        PRIMARY KEY (name, version, example_id),
        FOREIGN KEY (name, version) REFERENCES datasets (name, version)
    );
    """)
