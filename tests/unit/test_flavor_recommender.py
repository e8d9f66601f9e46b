"""The recommender flavor: a ranked top k with exclusions and the CLV tilt, served through
the app with list inputs; hostile or broken archives are refused before anything loads."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile

import numpy as np
import orjson
import pytest

from ailayer.core.errors import InvalidInput, UnsafeArtifact
from ailayer.models.flavors import get_flavor
from ailayer.models.flavors.base import PICKLE_HINT
from ailayer.models.flavors.recommender import RecommenderModel, dumps
from ailayer.models.signature import Signature
from tests.support.services import TinyModel, upload_form

ITEMS = np.array([10, 20, 30, 40, 50])
POPULARITY = np.array([0.9, 0.8, 0.5, 0.2, 0.1])
VALUE = np.array([0.0, 0.0, 0.0, 1.0, 0.0])  # item 40 is what high-value customers take
SIMILARITY = np.array(
    [
        [1.0, 0.1, 0.9, 0.0, 0.0],
        [0.1, 1.0, 0.0, 0.0, 0.8],
        [0.9, 0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0, 0.0],
        [0.0, 0.8, 0.0, 0.0, 1.0],
    ]
)
FIELDS = [("owned", "long_list"), ("exclude", "long_list"), ("k", "long"), ("clv", "double")]
SIGNATURE = {"inputs": [{"name": n, "type": t} for n, t in FIELDS]}


class Version:
    """What ``bind`` reads of a context: the version's signature."""

    signature = SIGNATURE


class Context:
    version = Version()


def loaded(data: bytes) -> RecommenderModel:
    model = get_flavor("recommender").load(data)
    model.bind(Context())  # type: ignore[arg-type]
    return model


def ask(model: RecommenderModel, *records: dict) -> list[list[tuple[int, float]]]:
    signature = Signature.parse(SIGNATURE)
    answer = model.predict(signature.matrix(list(records)))
    return [[(i["item"], i["score"]) for i in value["items"]] for value in answer.values]


def record(owned=(), exclude=(), k=3, clv=0.0) -> dict:  # type: ignore[no-untyped-def]
    return {"owned": list(owned), "exclude": list(exclude), "k": k, "clv": clv}


def test_popularity_top_k_leaves_out_owned_and_excluded_items() -> None:
    model = loaded(dumps(ITEMS, POPULARITY))
    [first, second] = ask(model, record(), record(owned=[10], exclude=[30], k=10))
    assert first == [(10, 0.9), (20, 0.8), (30, 0.5)]
    assert [item for item, _ in second] == [20, 40, 50]  # k past what is left: all of it
    [unknown] = ask(model, record(owned=[999], exclude=[12345]))
    assert [item for item, _ in unknown] == [10, 20, 30]


def test_item_item_follows_what_the_customer_owns() -> None:
    model = loaded(dumps(ITEMS, POPULARITY, similarity=SIMILARITY, popularity_weight=0.01))
    [fan_of_10, fan_of_20, newcomer] = ask(
        model, record(owned=[10], k=2), record(owned=[20], k=2), record(k=2)
    )
    assert [i for i, _ in fan_of_10] == [30, 20]
    assert [i for i, _ in fan_of_20] == [50, 10]
    assert [i for i, _ in newcomer] == [10, 20]  # nothing owned: popularity


def test_the_clv_feature_tilts_the_list_towards_valuable_items() -> None:
    data = dumps(ITEMS, POPULARITY, item_value=VALUE, clv_weight=1.0, clv_scale=1000.0)
    model = loaded(data)
    [low, high, huge] = ask(model, record(clv=0.0), record(clv=1000.0), record(clv=1e12))
    assert [i for i, _ in low] == [10, 20, 30]
    assert high[0] == (40, pytest.approx(1.2)) and huge[0] == high[0]  # the tilt is capped


def test_k_is_bounded_per_model() -> None:
    model = loaded(dumps(ITEMS, POPULARITY, max_k=4))
    for k in (0, 5, -1):
        with pytest.raises(InvalidInput) as caught:
            ask(model, record(k=k))
        assert caught.value.field == "k"


def test_the_signature_must_carry_the_weighed_feature() -> None:
    model = get_flavor("recommender").load(dumps(ITEMS, POPULARITY, clv_weight=0.5))

    class NoClv:
        version = type("V", (), {"signature": {"inputs": [{"name": "k", "type": "long"}]}})

    with pytest.raises(InvalidInput, match="'clv'"):
        model.bind(NoClv())  # type: ignore[arg-type]

    class WrongType:
        version = type("V", (), {"signature": {"inputs": [{"name": "owned", "type": "long"}]}})

    with pytest.raises(InvalidInput, match="owned"):
        get_flavor("recommender").load(dumps(ITEMS, POPULARITY)).bind(WrongType())  # type: ignore[arg-type]
    unbound = get_flavor("recommender").load(dumps(ITEMS, POPULARITY))
    with pytest.raises(InvalidInput):
        unbound.predict(np.empty((1, 0), dtype=object))


# --- hostile and broken files ----------------------------------------------------------


def archive(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def good_members() -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(dumps(ITEMS, POPULARITY))) as found:
        return {name: found.read(name) for name in found.namelist()}


def refused(data: bytes) -> str:
    with pytest.raises(UnsafeArtifact) as caught:
        get_flavor("recommender").check(data)
    assert caught.value.field == "artifact"
    return caught.value.message


def test_pickle_and_object_arrays_are_refused() -> None:
    assert refused(pickle.dumps({"items": ITEMS})) == PICKLE_HINT
    members = good_members()
    members["items.npy"] = npy(np.array([10, "x", None], dtype=object))
    assert "dtype object is refused" in refused(archive(**members))


def test_a_header_declaring_a_huge_shape_is_refused_before_reading() -> None:
    members = good_members()
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }"
    header += b" " * (118 - len(header)) + b"\n"
    members["similarity.npy"] = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    assert "over the" in refused(archive(**members))


def test_unexpected_members_and_shapes_are_refused() -> None:
    members = good_members()
    assert "unexpected member" in refused(archive(**members, **{"code.py": b"print(1)"}))
    duplicate = {**members, "items.npy": npy(np.array([1, 1, 2, 3, 4]))}
    assert "distinct" in refused(archive(**duplicate))
    short = {**members, "popularity.npy": npy(np.array([0.1, 0.2]))}
    assert "shape (5,)" in refused(archive(**short))
    nan = {**members, "popularity.npy": npy(np.array([0.1, np.nan, 0.2, 0.3, 0.4]))}
    assert "finite" in refused(archive(**nan))
    truncated = {**members, "items.npy": members["items.npy"][:-8]}
    assert "holds" in refused(archive(**truncated))
    missing = {k: v for k, v in members.items() if k != "popularity.npy"}
    assert "lacks" in refused(archive(**missing))
    meta = {**members, "meta.npy": npy(np.frombuffer(orjson.dumps({"format": "x"}), np.uint8))}
    assert "meta.format" in refused(archive(**meta))
    for garbage in (b"", b"not a zip", dumps(ITEMS, POPULARITY)[:100]):
        refused(garbage)


def test_an_item_item_model_needs_a_square_similarity() -> None:
    members = {**good_members(), "similarity.npy": npy(np.ones((5, 5)))}
    assert "no similarity" in refused(archive(**members))  # its meta says popularity
    with pytest.raises(UnsafeArtifact, match="shape"):
        dumps(ITEMS, POPULARITY, similarity=np.ones((5, 4)))


# --- through the app --------------------------------------------------------------------


def test_a_registered_recommender_answers_ranked_lists_and_takes_ranking_feedback(api) -> None:  # type: ignore[no-untyped-def]
    data = dumps(ITEMS, POPULARITY, item_value=VALUE, clv_weight=1.0, clv_scale=1000.0)
    tiny = TinyModel(data, SIGNATURE, None)
    form = upload_form(tiny, flavor="recommender", aliases=["champion"])
    registered = api.client.post("/v1/models/recs/versions", headers=api.headers(), **form)
    assert registered.status_code == 201, registered.text
    records = [record(owned=[10], k=2, clv=2000.0), record(exclude=[10, 20], k=2)]
    response = api.client.post("/v1/predict/recs", headers=api.headers("service"), json=records)
    assert response.status_code == 200, response.text
    first, second = response.json()["predictions"]
    assert first["prediction"] == {
        "items": [{"item": 40, "score": pytest.approx(1.2)}, {"item": 20, "score": 0.8}]
    }
    assert [i["item"] for i in second["prediction"]["items"]] == [30, 40]
    bad = api.client.post(
        "/v1/predict/recs", headers=api.headers("service"), json=record(owned=["a"])
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "owned"
    too_many = api.client.post(
        "/v1/predict/recs", headers=api.headers("service"), json=record(k=1000)
    )
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "k"

    label = {"clicked": [20], "purchased": [40]}
    posted = api.client.post(
        "/v1/feedback",
        headers=api.headers("service"),
        json=[{"prediction_id": first["prediction_id"], "label": label}],
    )
    assert posted.status_code == 200 and posted.json()["accepted"] == 1, posted.text
    scalar = api.client.post(
        "/v1/feedback",
        headers=api.headers("service"),
        json={"prediction_id": second["prediction_id"], "label": True},
    )
    assert scalar.status_code == 422 and scalar.json()["error"]["field"] == "label"
    ranked = api.client.get("/v1/endpoints/recs/ranking?k=2", headers=api.headers("viewer"))
    assert ranked.status_code == 200, ranked.text
    [window] = ranked.json()["windows"]
    assert (window["predictions"], window["labelled"]) == (2, 1)
    assert (window["precision@2"], window["recall@2"], window["ndcg@2"]) == (1.0, 1.0, 1.0)
    assert window["coverage@2"] == 1.0 and window["catalog"] == 3  # 10 was never seen
    top1 = api.client.get("/v1/endpoints/recs/ranking?k=1", headers=api.headers("viewer"))
    [window] = top1.json()["windows"]
    assert (window["precision@1"], window["recall@1"], window["ndcg@1"]) == (1.0, 0.5, 1.0)
    assert window["coverage@1"] == pytest.approx(2 / 3)  # 40 and 30 of 20, 30, 40
    performance = api.client.get(
        "/v1/monitoring/recs/performance", headers=api.headers("viewer")
    ).json()
    [hour] = performance["windows"]
    assert hour["task"] == "ranking" and hour["metrics"]["ndcg@10"] == 1.0


def test_a_member_with_more_data_than_its_header_declares_is_refused() -> None:
    members = good_members()
    members["items.npy"] = members["items.npy"] + b"\x00" * 64
    assert "holds" in refused(archive(**members))


def test_long_list_inputs_stay_lists_in_the_matrix() -> None:
    signature = Signature.parse(SIGNATURE)
    matrix = signature.matrix([record(owned=[1, 2]), record(owned=[3, 4])])
    assert matrix.shape == (2, 4) and matrix[1, 0] == [3, 4] and matrix[0, 1] == []
    for bad in ([1.5], [True], "1,2", [2**63]):
        with pytest.raises(InvalidInput) as caught:
            signature.matrix([record(exclude=bad)])
        assert caught.value.field == "exclude"
    with pytest.raises(InvalidInput):
        signature.matrix([record(owned=list(range(10_001)))])


def test_a_recommender_without_list_inputs_answers_v2_with_json_lists(api) -> None:  # type: ignore[no-untyped-def]
    tiny = TinyModel(dumps(ITEMS, POPULARITY), {"inputs": [{"name": "k", "type": "long"}]}, None)
    form = upload_form(tiny, flavor="recommender", aliases=["champion"])
    assert api.client.post("/v1/models/top/versions", headers=api.headers(), **form).is_success
    tensor = {"name": "k", "shape": [2], "datatype": "INT64", "data": [2, 1]}
    answer = api.client.post(
        "/v2/models/top/infer", headers=api.headers("service"), json={"inputs": [tensor]}
    )
    assert answer.status_code == 200, answer.text
    [predict] = answer.json()["outputs"]
    assert predict["datatype"] == "BYTES"
    lists = [orjson.loads(text)["items"] for text in predict["data"]]
    assert [[i["item"] for i in items] for items in lists] == [[10, 20], [10]]


def test_a_list_input_has_no_v2_tensor(api) -> None:  # type: ignore[no-untyped-def]
    tiny = TinyModel(dumps(ITEMS, POPULARITY), SIGNATURE, None)
    form = upload_form(tiny, flavor="recommender", aliases=["champion"])
    assert api.client.post("/v1/models/recs/versions", headers=api.headers(), **form).is_success
    tensors = [
        {"name": n, "shape": [1], "datatype": "INT64", "data": [1]}
        for n in ("owned", "exclude", "k", "clv")
    ]
    answer = api.client.post(
        "/v2/models/recs/infer", headers=api.headers("service"), json={"inputs": tensors}
    )
    assert answer.status_code == 400 and "/v1/predict" in answer.text, answer.text
