"""The demo that ``ailayer up`` sets up on first run."""
