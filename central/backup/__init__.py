"""Central's PostgreSQL backups and point-in-time recovery with pgBackRest: full and incremental backups
and continuous WAL archiving into two encrypted S3 repositories, their status, restores to a time."""
