"""The SDK's deployment calls, the same on ``Client`` and ``AsyncClient``."""

from __future__ import annotations

import pytest

from ailayer import InvalidInput, NotFound
from tests.support.sdk import CLIENTS, Awaiting, Server, drive
from tests.support.services import tiny_sklearn_model


@pytest.mark.parametrize("cls", CLIENTS, ids=lambda c: c.__name__)
def test_deploy_promote_rollback_and_history(server: Server, cls: type) -> None:
    async def scenario(client: Awaiting) -> None:
        for flip in (False, True):
            tiny = tiny_sklearn_model(flip=flip)
            await client.register_model(
                "fraud", tiny.artifact, flavor="sklearn", signature=tiny.signature
            )
        policy = {
            "kind": "canary",
            "variants": [
                {"name": "stable", "model": "fraud", "version": 1},
                {"name": "canary", "model": "fraud", "version": 2},
            ],
            "canary": {"steps": [20, 100]},
        }
        deployed = await client.deploy("checkout", policy)
        assert deployed["policy"]["revision"] == 1
        assert (await client.deployment("checkout"))["policy"]["variants"][1]["share"] == 20
        with pytest.raises(InvalidInput) as caught:
            await client.promote("checkout", to=30)
        assert caught.value.field == "to"
        rolled = await client.rollback("checkout", "checking")
        assert rolled["policy"]["state"] == "rolled_back"
        history = await client.deployment_history("checkout")
        assert [h["revision"] for h in history] == [2, 1]
        with pytest.raises(NotFound):
            await client.deployment("elsewhere")

    drive(cls, server.url, server.keys["admin"], scenario)
