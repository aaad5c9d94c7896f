"""The software releases' table (a migration set of its own: vigia.central.migrations, after the models' set): a
rollout ships a model or a release, its audit trail names the one or the other, and the device commands take
`install_software`."""

MIGRATIONS = [
    """
    CREATE TABLE software_releases (
        version text PRIMARY KEY,
        filename text NOT NULL,
        sha256 text NOT NULL UNIQUE,
        size bigint NOT NULL,
        s3_key text NOT NULL,
        signature text NOT NULL,
        state text NOT NULL DEFAULT 'approved' CHECK (state IN ('approved', 'rolling_out', 'deployed', 'retired')),
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    ALTER TABLE rollouts ALTER COLUMN model_id DROP NOT NULL;
    ALTER TABLE rollouts ADD COLUMN software_version text REFERENCES software_releases (version);
    ALTER TABLE rollouts ADD CONSTRAINT rollouts_one_target CHECK ((model_id IS NULL) <> (software_version IS NULL));
    ALTER TABLE model_audit ALTER COLUMN model_id DROP NOT NULL;
    ALTER TABLE model_audit ADD COLUMN software_version text REFERENCES software_releases (version);
    ALTER TABLE model_audit ADD CONSTRAINT model_audit_one_target CHECK ((model_id IS NULL) <> (software_version IS NULL));
    CREATE INDEX model_audit_software ON model_audit (software_version, id) WHERE software_version IS NOT NULL;
    ALTER TABLE device_commands DROP CONSTRAINT device_commands_kind_check;
    ALTER TABLE device_commands ADD CONSTRAINT device_commands_kind_check CHECK (kind IN
        ('upload_clip', 'set_layout', 'rotate_credentials', 'install_model', 'rollback_model', 'install_software'));
    """,
]
