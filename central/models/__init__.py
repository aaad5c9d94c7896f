"""The model registry (signed models in S3 and PostgreSQL) and staged rollouts to devices."""
