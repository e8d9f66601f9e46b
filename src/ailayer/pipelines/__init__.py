"""Pipelines: train, gate, register and hand models to serving; triggers and runs."""
