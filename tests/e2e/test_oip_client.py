"""A real v2 client against a real ``ailayer up``: tritonclient's HTTP client (the Open
Inference Protocol's reference Python client) checks liveness, readiness and metadata and
infers on the demo fraud endpoint, with the key sent as a header, unchanged."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as tritonclient_http
from tritonclient.utils import InferenceServerException

from ailayer.simulate import FRAUD_FEATURES
from tests.support.services import free_port
from tests.support.up import start

pytestmark = pytest.mark.e2e

ROWS = np.array(
    [[1890.0, 2.0, 1.0, 3.0, 7.0, 1.0], [25.0, 900.0, 0.0, 14.0, 1.0, 0.0]], dtype=np.float64
)


def inputs(binary: bool = False) -> list:
    made = []
    for index, name in enumerate(FRAUD_FEATURES):
        tensor = tritonclient_http.InferInput(name, [len(ROWS)], "FP64")
        tensor.set_data_from_numpy(ROWS[:, index].copy(), binary_data=binary)
        made.append(tensor)
    return made


def requested(*names: str) -> list:
    return [tritonclient_http.InferRequestedOutput(n, binary_data=False) for n in names]


def test_tritonclient_round_trip(tmp_path: Path) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    up = start(cwd, free_port(), run=1)
    try:
        up.wait_for_curl(timeout=60)
        up.wait_healthy(timeout=10)
        key = (cwd / ".ailayer" / "credentials").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        client = tritonclient_http.InferenceServerClient(up.url.removeprefix("http://"))
        try:
            check_round_trip(client, headers, up.url)
        finally:
            client.close()
    finally:
        up.stop()


def check_round_trip(client, headers: dict, url: str) -> None:  # type: ignore[no-untyped-def]
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata(headers=headers)["name"] == "ailayer"
    assert client.is_model_ready("fraud", headers=headers)
    assert client.is_model_ready("fraud", "1", headers=headers)
    assert not client.is_model_ready("fraud")  # no key

    metadata = client.get_model_metadata("fraud", headers=headers)
    assert metadata["platform"] == "sklearn" and metadata["versions"] == ["1"]
    assert [i["name"] for i in metadata["inputs"]] == list(FRAUD_FEATURES)

    result = client.infer(
        "fraud", inputs(), outputs=requested("predict", "score"), request_id="r-1", headers=headers
    )
    scores = result.as_numpy("score")
    assert scores.shape == (2,) and scores.dtype == np.float64
    assert result.get_response()["id"] == "r-1"
    assert result.as_numpy("predict").tolist() == [int(s >= 0.5) for s in scores]  # long

    records = [dict(zip(FRAUD_FEATURES, row, strict=True)) for row in ROWS.tolist()]
    native = httpx.post(f"{url}/v1/predict/fraud", json=records, headers=headers, timeout=10)
    assert scores.tolist() == pytest.approx([p["score"] for p in native.json()["predictions"]])

    pinned = client.infer("fraud", inputs(), model_version="1", headers=headers)
    assert pinned.get_response()["model_version"] == "1"
    assert pinned.as_numpy("score").tolist() == pytest.approx(scores.tolist())

    with pytest.raises(InferenceServerException) as missing:
        client.infer("fraud", inputs(), model_version="7", headers=headers)
    assert missing.value.status() == "404" and "version 7" in missing.value.message()
    with pytest.raises(InferenceServerException) as binary:
        client.infer("fraud", inputs(binary=True), headers=headers)
    assert binary.value.status() == "400" and "binary_data=False" in binary.value.message()
