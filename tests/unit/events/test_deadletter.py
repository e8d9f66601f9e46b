"""Dead-letter envelopes: the error rides along as extensions and replay strips it."""

from __future__ import annotations

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.events import Event
from ailayer.events.deadletter import dead_letter, dead_letter_topic, original
from tests.support.events import events


def test_a_dead_letter_is_the_event_plus_its_failure() -> None:
    event = events(1)[0]
    letter = dead_letter(
        event, topic="payments", group="fraud", error=ValueError("bad amount"), attempts=5
    )
    assert (letter.id, letter.data, letter.tenant) == (event.id, event.data, event.tenant)
    ext = letter.extensions
    assert ext["dlqtopic"] == "payments" and ext["dlqgroup"] == "fraud"
    assert ext["dlqerror"] == "ValueError: bad amount" and ext["dlqattempts"] == 5
    assert Event.from_json(letter.to_json()) == letter  # valid CloudEvents extensions


def test_replay_strips_the_failure_and_counts_replays() -> None:
    event = events(1)[0]
    letter = dead_letter(event, topic="payments", group="g", error=KeyError("x"), attempts=3)
    topic, replayed = original(letter)
    assert topic == "payments"
    assert replayed.extensions == {"dlqreplays": 1}
    again = dead_letter(replayed, topic="payments", group="g", error=KeyError("x"), attempts=3)
    assert original(again)[1].extensions == {"dlqreplays": 2}


def test_long_errors_are_cut() -> None:
    letter = dead_letter(
        events(1)[0], topic="t", group="g", error=RuntimeError("x" * 5000), attempts=1
    )
    assert len(letter.extensions["dlqerror"]) == 1000


def test_dead_letter_topic_names_follow_the_topic_rule() -> None:
    assert dead_letter_topic("payments") == "payments-dlq"
    with pytest.raises(InvalidInput) as caught:
        dead_letter_topic("p" * 62)
    assert caught.value.field == "dead_letter_topic"
