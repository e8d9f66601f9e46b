"""The Open Inference Protocol v2 codec: tensors to records, answers to output tensors."""

from __future__ import annotations

import json

import orjson
import pytest

from ailayer.core.errors import BadRequest
from ailayer.models.signature import Signature
from ailayer.serving import oip

SIGNATURE = Signature.parse(
    {
        "inputs": [
            {"name": "amount", "type": "double"},
            {"name": "count", "type": "long"},
            {"name": "new_device", "type": "boolean"},
            {"name": "country", "type": "string"},
        ]
    }
)
ROWS = [
    {"amount": 12.5, "count": 3, "new_device": True, "country": "BR"},
    {"amount": 900, "count": -1, "new_device": False, "country": "DE"},
]


def tensor(name: str, datatype: str, data: list, shape: list | None = None) -> dict:
    return {"name": name, "datatype": datatype, "shape": shape or [len(data)], "data": data}


def body(*inputs: dict, **extra) -> bytes:  # type: ignore[no-untyped-def]
    return orjson.dumps({"inputs": list(inputs), **extra})


GOOD_INPUTS = (
    tensor("amount", "FP64", [12.5, 900]),
    tensor("count", "INT32", [3, -1]),
    tensor("new_device", "BOOL", [True, False]),
    tensor("country", "BYTES", ["BR", "DE"]),
)


def decode(raw: bytes, signature: Signature = SIGNATURE, open_fields: bool = False) -> list:
    return oip.to_records(oip.parse_request(raw), signature, open_fields=open_fields)


def refused(raw: bytes, signature: Signature = SIGNATURE) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        decode(raw, signature)
    assert caught.value.status == 400
    return caught.value


def test_one_tensor_per_field_gives_one_record_per_row() -> None:
    assert decode(body(*GOOD_INPUTS)) == ROWS


def test_n_by_1_tensors_and_nested_data_are_flattened() -> None:
    inputs = [{**t, "shape": [2, 1], "data": [[v] for v in t["data"]]} for t in GOOD_INPUTS]
    assert decode(body(*inputs)) == ROWS


def test_a_single_2d_tensor_holds_the_fields_in_order() -> None:
    signature = Signature.parse(
        {"inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]}
    )
    flat = tensor("x", "FP32", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2])
    nested = tensor("x", "FP32", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [3, 2])
    expected = [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}, {"a": 5.0, "b": 6.0}]
    assert decode(body(flat), signature) == decode(body(nested), signature) == expected


def test_a_2d_tensor_with_the_wrong_number_of_columns_names_the_fields() -> None:
    error = refused(body(tensor("x", "FP64", [1.0, 2.0, 3.0], [1, 3])))
    assert error.field == "x"
    assert "3 columns" in error.message and "needs 4" in error.message
    assert "amount (double), count (long)" in error.message


def test_a_2d_tensor_column_of_the_wrong_type_names_the_column() -> None:
    error = refused(body(tensor("x", "FP64", [1.0, 2.0, 0.0, 1.0], [1, 4])))
    assert error.field == "x"
    assert "'count'" in error.message and "FP64" in error.message and "long" in error.message


ALL_DATATYPES = [
    ("BOOL", [True, False], [1, "true", None]),
    ("INT8", [-128, 127], [128, -129, 1.5, True]),
    ("INT16", [-32768, 32767], [32768, -32769]),
    ("INT32", [-(2**31), 2**31 - 1], [2**31, -(2**31) - 1]),
    ("INT64", [-(2**63), 2**63 - 1], [2**63, "1"]),
    ("UINT8", [0, 255], [-1, 256]),
    ("UINT16", [0, 65535], [-1, 65536]),
    ("UINT32", [0, 2**32 - 1], [-1, 2**32]),
    ("UINT64", [0, 2**64 - 1], [-1]),
    ("FP16", [-65504.0, 65504, 0.5], [65505.0, -1e5, True]),
    ("FP32", [3.4e38, -3.4e38, 7], [3.5e38, -1e39, "1.0"]),
    ("FP64", [1e308, -1e308, 2**64 - 1], [False, None, [1.0]]),
    ("BYTES", ["", "héllo"], [1, None, True]),
]


@pytest.mark.parametrize(("datatype", "good", "bad"), ALL_DATATYPES, ids=lambda v: str(v))
def test_every_datatype_takes_its_values_and_refuses_others_naming_the_input(
    datatype: str, good: list, bad: list
) -> None:
    parsed = oip.parse_request(body(tensor("t", datatype, good)))
    assert parsed.inputs[0].values == good
    assert parsed.inputs[0].datatype.name == datatype
    for value in bad:
        error = refused(body(tensor("t", datatype, [*good, value])))
        assert error.field == "t"
        assert f"data[{len(good)}]" in error.message and datatype in error.message


def test_all_thirteen_datatypes_are_known() -> None:
    names = {"BOOL", "BYTES", "FP16", "FP32", "FP64"}
    names |= {f"{s}INT{b}" for s in ("", "U") for b in (8, 16, 32, 64)}
    assert set(oip.DATATYPES) == names


def test_an_unknown_datatype_is_refused_with_the_list() -> None:
    error = refused(body(tensor("amount", "FLOAT", [1.0])))
    assert error.field == "amount" and "FLOAT" in error.message and "FP32" in error.message


@pytest.mark.parametrize(
    ("shape", "data"),
    [([3], [1.0, 2.0]), ([2, 2], [1.0, 2.0, 3.0]), ([2], []), ([1, 2], [[1.0], [2.0]])],
)
def test_shape_and_data_disagreeing_is_400_naming_the_input(shape: list, data: list) -> None:
    error = refused(body(tensor("amount", "FP64", data, shape)))
    assert error.field == "amount"
    assert "amount" in error.message and "shape" in error.message


def test_nested_data_deeper_or_shallower_than_its_shape_is_refused() -> None:
    deeper = refused(body(tensor("amount", "FP64", [[[1.0]], [[2.0]]], [2, 1])))
    assert "deeper" in deeper.message and deeper.field == "amount"
    shallower = refused(body(tensor("amount", "FP64", [[1.0], 2.0], [2, 1])))
    assert "shallower" in shallower.message


@pytest.mark.parametrize(
    ("name", "datatype", "data", "field_type"),
    [
        ("count", "FP64", [1.0, 2.0], "long"),
        ("amount", "BYTES", ["1", "2"], "double"),
        ("amount", "BOOL", [True, False], "double"),
        ("new_device", "INT8", [1, 0], "boolean"),
        ("country", "INT64", [1, 2], "string"),
    ],
)
def test_a_datatype_that_does_not_fit_the_field_names_the_input_and_both_types(
    name: str, datatype: str, data: list, field_type: str
) -> None:
    inputs = [t for t in GOOD_INPUTS if t["name"] != name]
    error = refused(body(*inputs, tensor(name, datatype, data)))
    assert error.field == name
    assert repr(name) in error.message
    assert datatype in error.message and field_type in error.message


def test_integer_datatypes_feed_double_fields() -> None:
    inputs = [t for t in GOOD_INPUTS if t["name"] != "amount"]
    records = decode(body(*inputs, tensor("amount", "UINT16", [12, 900])))
    assert [r["amount"] for r in records] == [12, 900]


def test_a_uint64_past_the_long_range_is_refused_for_a_long_field() -> None:
    inputs = [t for t in GOOD_INPUTS if t["name"] != "count"]
    error = refused(body(*inputs, tensor("count", "UINT64", [1, 2**63])))
    assert error.field == "count" and str(2**63) in error.message
    assert decode(body(*inputs, tensor("count", "UINT64", [1, 2**63 - 1])))[1]["count"] == (
        2**63 - 1
    )


def test_unknown_missing_duplicate_and_ragged_inputs_are_named() -> None:
    unknown = refused(body(*GOOD_INPUTS, tensor("colour", "BYTES", ["red", "blue"])))
    assert unknown.field == "colour" and "amount (double)" in unknown.message
    missing = refused(body(*GOOD_INPUTS[1:]))
    assert missing.field == "amount" and "missing" in missing.message
    twice = refused(body(*GOOD_INPUTS, GOOD_INPUTS[0]))
    assert twice.field == "amount" and "twice" in twice.message
    ragged = refused(body(*GOOD_INPUTS[:3], tensor("country", "BYTES", ["BR", "DE", "US"])))
    assert ragged.field == "country" and "3 rows" in ragged.message and "2" in ragged.message


def test_a_field_tensor_must_be_a_column() -> None:
    inputs = [t for t in GOOD_INPUTS if t["name"] != "amount"]
    error = refused(body(*inputs, tensor("amount", "FP64", [1.0, 2.0, 3.0, 4.0], [2, 2])))
    assert error.field == "amount" and "[N] or [N, 1]" in error.message


def test_inputs_with_no_rows_are_refused() -> None:
    empty = [{**t, "shape": [0], "data": []} for t in GOOD_INPUTS]
    assert "no rows" in refused(body(*empty)).message


def test_open_fields_take_entity_keys_and_leave_features_to_the_store() -> None:
    raw = body(tensor("customer_id", "BYTES", ["c1", "c2"]), tensor("amount", "FP32", [1.0, 2.0]))
    assert decode(raw, open_fields=True) == [
        {"customer_id": "c1", "amount": 1.0},
        {"customer_id": "c2", "amount": 2.0},
    ]
    wrong = body(tensor("customer_id", "BYTES", ["c1"]), tensor("amount", "BYTES", ["x"]))
    with pytest.raises(BadRequest, match="amount"):
        decode(wrong, open_fields=True)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b"{}", "inputs"),
        (orjson.dumps({"inputs": []}), "inputs"),
        (orjson.dumps({"inputs": [1]}), "inputs[0]"),
        (orjson.dumps({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}), "inputs[0]"),
        (body(GOOD_INPUTS[0], id=7), "id"),
        (body(GOOD_INPUTS[0], parameters=[1]), "parameters"),
        (body({**GOOD_INPUTS[0], "shape": [-2]}), "amount"),
        (body({**GOOD_INPUTS[0], "datatype": {}}), "amount"),
        (body({**GOOD_INPUTS[0], "shape": [1] * 65, "data": [12.5]}), "amount"),
        (body({**GOOD_INPUTS[0], "datatype": ["FP64"]}), "amount"),
        (body({**GOOD_INPUTS[0], "shape": [True, 1]}), "amount"),
        (body({**GOOD_INPUTS[0], "data": 12.5, "shape": []}), "amount"),
        (body({k: v for k, v in GOOD_INPUTS[0].items() if k != "data"}), "amount"),
        (body(GOOD_INPUTS[0], outputs=[{"name": "logits"}]), "logits"),
        (body(GOOD_INPUTS[0], outputs={"name": "predict"}), "outputs"),
    ],
)
def test_malformed_requests_are_400_naming_the_part(raw: bytes, field: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        oip.parse_request(raw)
    assert caught.value.field == field
    assert caught.value.message


def test_binary_inputs_are_refused_with_the_json_alternative() -> None:
    binary = {
        "name": "amount",
        "shape": [1],
        "datatype": "FP64",
        "parameters": {"binary_data_size": 8},
    }
    with pytest.raises(BadRequest, match="binary"):
        oip.parse_request(body(binary))


# --- answers --------------------------------------------------------------------------------


def answer(*items: dict) -> dict:
    return {"endpoint": "fraud", "model": "fraud-model", "version": 3, "alias": "champion",
            "predictions": [{"prediction_id": f"id{i}", **item} for i, item in enumerate(items)]}  # fmt: skip


def request(outputs: list | None = None, request_id: str | None = "r-9") -> oip.InferRequest:
    extra: dict = {"id": request_id} if request_id is not None else {}
    if outputs is not None:
        extra["outputs"] = [{"name": name} for name in outputs]
    return oip.parse_request(body(GOOD_INPUTS[0], **extra))


def test_the_response_echoes_the_id_and_carries_prediction_ids() -> None:
    response = oip.encode_response(
        answer({"prediction": True, "score": 0.9}, {"prediction": False, "score": 0.1}),
        request(),
        "fraud",
    )
    assert response["model_name"] == "fraud" and response["model_version"] == "3"
    assert response["id"] == "r-9"
    assert response["parameters"] == {"prediction_ids": "id0,id1", "model": "fraud-model", "variant": "champion"}  # fmt: skip
    assert response["outputs"] == [
        {"name": "predict", "shape": [2], "datatype": "BOOL", "data": [True, False]},
        {"name": "score", "shape": [2], "datatype": "FP64", "data": [0.9, 0.1]},
    ]
    assert "id" not in oip.encode_response(answer({"prediction": 1}), request(request_id=None), "f")


@pytest.mark.parametrize(
    ("values", "declared", "datatype", "data"),
    [
        ([True, False], None, "BOOL", [True, False]),
        ([1, 2], None, "INT64", [1, 2]),
        ([1, 2.5], None, "FP64", [1.0, 2.5]),
        (["cat", "dog"], None, "BYTES", ["cat", "dog"]),
        (["cat", 1], None, "BYTES", ["cat", "1"]),
        ([2**64, 1], None, "FP64", [float(2**64), 1.0]),
        ([True, False], "long", "INT64", [1, 0]),
        ([1.0, 0.0], "long", "INT64", [1, 0]),
        ([1, 2], "double", "FP64", [1.0, 2.0]),
        ([1, 2], "string", "BYTES", ["1", "2"]),
        (["yes", "no"], "long", "BYTES", ["yes", "no"]),  # does not fit: from the values
        ([1, 0], "boolean", "INT64", [1, 0]),
    ],
)
def test_the_predict_datatype_follows_the_declared_type_or_the_values(
    values: list, declared: str | None, datatype: str, data: list
) -> None:
    found = oip.predict_tensor(values, declared)
    assert (found["datatype"], found["data"], found["shape"]) == (datatype, data, [len(values)])


def test_probabilities_are_n_by_c_with_the_class_names() -> None:
    items = [
        {"prediction": "b", "score": 0.7, "probabilities": {"a": 0.2, "b": 0.7, "c,d": 0.1}},
        {"prediction": "a", "score": 0.6, "probabilities": {"a": 0.6, "b": 0.3, "c,d": 0.1}},
    ]
    response = oip.encode_response(answer(*items), request(), "iris")
    probabilities = next(o for o in response["outputs"] if o["name"] == "probabilities")
    assert probabilities["shape"] == [2, 3] and probabilities["datatype"] == "FP64"
    assert probabilities["data"] == [0.2, 0.7, 0.1, 0.6, 0.3, 0.1]
    assert json.loads(probabilities["parameters"]["classes"]) == ["a", "b", "c,d"]


def test_only_the_requested_outputs_are_answered_in_their_order() -> None:
    items = [{"prediction": "b", "score": 0.7, "probabilities": {"a": 0.3, "b": 0.7}}]
    response = oip.encode_response(answer(*items), request(["score", "predict"]), "m")
    assert [o["name"] for o in response["outputs"]] == ["score", "predict"]


def test_a_requested_output_the_model_does_not_give_is_named() -> None:
    with pytest.raises(BadRequest) as caught:
        oip.encode_response(answer({"prediction": 2.5}), request(["score"]), "m")
    assert caught.value.field == "score" and "predict" in caught.value.message


def test_metadata_lists_the_fields_and_the_declared_output() -> None:
    declared = Signature.parse(
        {"inputs": SIGNATURE.to_dict()["inputs"], "outputs": [{"name": "y", "type": "long"}]}
    )
    inputs, outputs = oip.tensor_metadata(declared)
    assert [(i["name"], i["datatype"], i["shape"]) for i in inputs] == [
        ("amount", "FP64", [-1]),
        ("count", "INT64", [-1]),
        ("new_device", "BOOL", [-1]),
        ("country", "BYTES", [-1]),
    ]
    assert outputs == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    assert oip.tensor_metadata(SIGNATURE)[1] == []
