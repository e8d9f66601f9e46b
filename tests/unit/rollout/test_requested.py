"""A deployment as a client asks for it: only its own fields, a canary's starting shares."""

from __future__ import annotations

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.rollout.policy import requested

STABLE = {"name": "stable", "model": "fraud", "version": 1}
CANARY = {"name": "canary", "model": "fraud", "version": 2}


def test_a_canary_starts_at_its_first_step() -> None:
    policy = requested("fraud", {"kind": "canary", "variants": [STABLE, CANARY]})
    assert {v.name: v.share for v in policy.variants} == {"stable": 95, "canary": 5}
    custom = {"kind": "canary", "variants": [STABLE, CANARY], "canary": {"steps": [10, 100]}}
    assert requested("fraud", custom).variant("canary").share == 10


def test_a_canary_share_that_is_not_its_first_step_is_refused() -> None:
    body = {"kind": "canary", "variants": [{**STABLE, "share": 50}, {**CANARY, "share": 50}]}
    with pytest.raises(InvalidInput, match="first step") as caught:
        requested("fraud", body)
    assert caught.value.field == "variants.share"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "single", "variants": [STABLE], "revision": 7}, "revision"),
        (
            {"kind": "ab", "variants": [{**STABLE, "share": 60}, {**CANARY, "share": 30}]},
            "variants.share",
        ),
        (
            {"kind": "canary", "variants": [STABLE, CANARY], "canary": {"steps": [5, 50]}},
            "canary.steps",
        ),
        (
            {"kind": "canary", "variants": [STABLE, CANARY], "canary": {"steps": [50, 5, 100]}},
            "canary.steps",
        ),
        ({"kind": "single", "variants": "fraud:1"}, "variants"),
        ({"kind": "rainbow", "variants": [{**STABLE, "share": 100}]}, "kind"),
    ],
)
def test_bad_requests_name_the_field(body: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        requested("fraud", body)
    assert caught.value.field == field
