"""Model registry: models, versions, aliases, lineage and their artifacts."""
