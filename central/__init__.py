"""Central services that are not sync: fleet dashboard, model registry, re-analysis."""
