"""The ``ailayer`` command."""
