"""The model registry's and rollouts' tables (a migration set of its own: vigia.central.migrations); the ingest's
device commands take the model commands (install_model, rollback_model)."""

MIGRATIONS = [
    """
    CREATE TABLE models (
        id text PRIMARY KEY,
        name text NOT NULL,
        sha256 text NOT NULL UNIQUE,
        size bigint NOT NULL,
        s3_key text NOT NULL,
        input_shape jsonb NOT NULL,
        output_shape jsonb NOT NULL,
        num_classes integer NOT NULL,
        class_names jsonb NOT NULL,
        metrics jsonb NOT NULL DEFAULT '{}',
        lineage jsonb NOT NULL DEFAULT '{}',
        state text NOT NULL DEFAULT 'candidate'
            CHECK (state IN ('candidate', 'approved', 'rolling_out', 'deployed', 'retired')),
        signature text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE rollouts (
        id bigserial PRIMARY KEY,
        model_id text NOT NULL REFERENCES models (id),
        state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'paused', 'done')),
        stage integer NOT NULL DEFAULT 0,
        plan jsonb NOT NULL,
        reason text,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
    );
    CREATE TABLE rollout_devices (
        rollout_id bigint NOT NULL REFERENCES rollouts (id),
        device_id text NOT NULL,
        stage integer NOT NULL,
        state text NOT NULL DEFAULT 'waiting'
            CHECK (state IN ('waiting', 'installing', 'watching', 'updated', 'refused', 'rolled_back')),
        command_id bigint,
        baseline jsonb,
        health jsonb,
        reason text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (rollout_id, device_id)
    );
    CREATE TABLE model_audit (
        id bigserial PRIMARY KEY,
        model_id text NOT NULL REFERENCES models (id),
        rollout_id bigint REFERENCES rollouts (id),
        device_id text,
        action text NOT NULL,
        actor text NOT NULL,
        detail jsonb NOT NULL DEFAULT '{}',
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX model_audit_model ON model_audit (model_id, id);
    ALTER TABLE device_commands DROP CONSTRAINT device_commands_kind_check;
    ALTER TABLE device_commands ADD CONSTRAINT device_commands_kind_check CHECK (kind IN
        ('upload_clip', 'set_layout', 'rotate_credentials', 'install_model', 'rollback_model'));
    """,
]
