"""Labels that arrive as events: the bus path beside ``POST /v1/feedback``.

Outcomes often come from another system (a chargeback processor, a billing job) that
already emits events. It publishes ``ailayer.label`` events whose ``data`` has the
shape of a feedback body — ``{"prediction_id", "label", "time"?}`` or a list of them —
to a topic, and a consumer group applies them:

    ailayer consume labels --topic labels --handler ailayer.cli.handlers:labels

The tenant is the event's (set from the API key when it came in through
``POST /v1/events``). Applying a label twice is harmless (the latest received counts),
so at-least-once delivery is enough. A label of the wrong type raises and the runner
retries, then dead-letters it with the error; unknown prediction ids are counted and
logged, as the HTTP route reports them. ``LabelHandler`` is given its ``FeedbackStore``;
the handler that command names is wired from the settings in ``ailayer.cli.handlers``.
"""

from __future__ import annotations

import logging

import orjson

from ailayer.core.errors import InvalidInput
from ailayer.events.envelope import Event
from ailayer.monitoring.log.feedback import FeedbackStore, parse_feedback

LABEL_EVENT = "ailayer.label"
logger = logging.getLogger("ailayer.labels")


class LabelHandler:
    """Applies ``ailayer.label`` events to a FeedbackStore; other types are refused."""

    def __init__(self, feedback: FeedbackStore) -> None:
        self.feedback = feedback
        self.unknown = 0

    def __call__(self, event: Event) -> None:
        if event.type != LABEL_EVENT:
            raise InvalidInput(
                f"type must be {LABEL_EVENT!r} on a label topic; got {event.type!r}",
                field="type",
            )
        if not event.tenant:
            raise InvalidInput("a label event needs its tenant", field="tenant")
        items = parse_feedback(orjson.dumps(event.data))
        result = self.feedback.submit(event.tenant, items)
        if result["unknown"]:
            self.unknown += result["unknown"]
            logger.warning(
                "label event %s: %d unknown prediction id(s)", event.id, result["unknown"]
            )
