"""Sync between appliances and central: the edge outbox and uploader, the wire protocol, central ingest."""
