"""/docs and /redoc work without internet: every script, style sheet and icon they load
comes from the app itself (the assets ship in the package, with their licences)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ailayer

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
QUOTED_URL = re.compile(r"""["'](?:https?:)?//[^"']+["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_of_the_docs_pages_is_served_by_the_app(api, page) -> None:  # type: ignore[no-untyped-def]
    response = api.client.get(page)
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    html = response.text
    assert QUOTED_URL.findall(html) == []  # no absolute URL: no CDN, no font service
    assets = ASSET.findall(html)
    assert any(a.endswith(".js") for a in assets), assets
    for asset in assets:
        assert asset.startswith("/"), asset
        fetched = api.client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 0, asset
    if page == "/docs":
        assert any(a.endswith(".css") for a in assets)
        assert "validatorUrl" in html  # the online spec validator is off
    assert "/openapi.json" in html


def test_the_assets_ship_with_their_licences() -> None:
    static = Path(ailayer.__file__).parent / "api" / "static"
    for folder, files in {
        "swagger-ui": ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"),
        "redoc": ("redoc.standalone.js", "LICENSE"),
    }.items():
        for name in files:
            assert (static / folder / name).is_file(), (folder, name)
