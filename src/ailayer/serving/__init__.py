"""Serving: endpoint resolution, the loaded-model cache, and the predict path."""
