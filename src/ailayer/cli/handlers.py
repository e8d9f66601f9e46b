"""Handlers that ``ailayer consume --handler`` can name, wired from the configured settings.

A handler is a function of one event (``ailayer.events.handlers``). The ones here build
the services they need from the settings on first use, once per process, so that the
modules doing the work are given their collaborators and never wire them:

    ailayer consume labels --topic labels --handler ailayer.cli.handlers:labels
"""

from __future__ import annotations

import functools

from ailayer.bootstrap import build
from ailayer.cli import context
from ailayer.events.envelope import Event
from ailayer.monitoring.log.label_events import LabelHandler


@functools.cache
def _label_handler() -> LabelHandler:
    return LabelHandler(build(context.settings()).feedback)


def labels(event: Event) -> None:
    """``ailayer.label`` events → the feedback log of the configured stores."""
    _label_handler()(event)
