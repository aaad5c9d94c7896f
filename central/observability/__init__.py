"""Central's observability: Prometheus metrics of the ingest, the dashboard and the re-analysis workers (`metrics`),
what PostgreSQL knows of the fleet read at scrape time (`fleet`), the `/metrics` endpoint (`endpoint`), the Grafana
dashboards (`grafana`), and the Prometheus and Alertmanager configuration in `prometheus/`."""
