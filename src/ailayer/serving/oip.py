"""The Open Inference Protocol v2 (KServe / Triton "V2") codec: named tensors in, ailayer
records out; the predictor's answer in, output tensors out.

A v2 request carries ``inputs``: tensors with a ``name``, a ``shape``, a ``datatype`` and
``data`` (flat row-major, or nested as the shape). Two layouts map onto a signature:

- one tensor per signature field, each of shape ``[N]`` or ``[N, 1]``;
- one 2-D tensor ``[N, F]`` (named anything but a field) whose columns are the
  signature's ``F`` fields in order.

Every check names the input it refuses (``BadRequest``, 400, ``field`` = the input), so a
v2 client learns what to fix: the datatype's range, the shape against the data, the
datatype against the field's type. Decoding is plain Python over the JSON lists (no
pydantic, no DataFrame); the predictor then validates the records as it does for
``/v1/predict``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import orjson

from ailayer.core.errors import BadRequest
from ailayer.models.signature import Signature


@dataclass(frozen=True, slots=True)
class Datatype:
    """A v2 datatype: the JSON values it takes (``kind``) and, for numbers, its range."""

    name: str
    kind: str  # "bool", "int", "float" or "bytes"
    low: float = 0.0
    high: float = 0.0

    def accepts(self, value: Any) -> bool:
        if self.kind == "float":
            number = type(value) is int or (type(value) is float and math.isfinite(value))
            return number and self.low <= value <= self.high
        if self.kind == "int":
            return type(value) is int and self.low <= value <= self.high
        return type(value) is (bool if self.kind == "bool" else str)

    def expected(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "bytes":
            return "a string"
        low, high = (int(self.low), int(self.high)) if self.kind == "int" else (self.low, self.high)
        what = "an integer" if self.kind == "int" else "a finite number"
        return f"{what} in [{low}, {high}]"


def _ints(name: str, bits: int, signed: bool) -> Datatype:
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return Datatype(name, "int", low, high)


FP16_MAX = 65504.0
FP32_MAX = 3.4028234663852886e38
DATATYPES: dict[str, Datatype] = {
    d.name: d
    for d in (
        Datatype("BOOL", "bool"),
        _ints("INT8", 8, True),
        _ints("INT16", 16, True),
        _ints("INT32", 32, True),
        _ints("INT64", 64, True),
        _ints("UINT8", 8, False),
        _ints("UINT16", 16, False),
        _ints("UINT32", 32, False),
        _ints("UINT64", 64, False),
        Datatype("FP16", "float", -FP16_MAX, FP16_MAX),
        Datatype("FP32", "float", -FP32_MAX, FP32_MAX),
        Datatype("FP64", "float", -sys.float_info.max, sys.float_info.max),
        Datatype("BYTES", "bytes"),
    )
}

FIELD_KINDS = {  # the datatype kinds a signature field type takes
    "double": ("int", "float"),
    "long": ("int",),
    "boolean": ("bool",),
    "string": ("bytes",),
    "long_list": (),  # a list per row has no v2 tensor: such a model is served on /v1
}
FIELD_DATATYPES = {
    "double": "FP64",
    "long": "INT64",
    "boolean": "BOOL",
    "string": "BYTES",
    "long_list": "INT64",
}
LONG_MAX = 2**63 - 1
MAX_DIMENSIONS = 64  # nested data is walked recursively, one level per dimension
OUTPUTS = ("predict", "score", "probabilities")


@dataclass(frozen=True, slots=True)
class Tensor:
    """One decoded input: its values flat, row-major, each checked against the datatype."""

    name: str
    shape: tuple[int, ...]
    datatype: Datatype
    values: list[Any]


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A parsed v2 infer request; ``outputs`` is ``None`` when the request names none."""

    id: str | None
    inputs: tuple[Tensor, ...]
    outputs: tuple[str, ...] | None


# --- request ------------------------------------------------------------------------------


def parse_request(body: bytes) -> InferRequest:
    """The request body as an ``InferRequest``; every tensor checked on its own (datatype,
    range, shape against data). Signature checks come later, in ``to_records``."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadRequest("an infer request must be a JSON object with 'inputs'")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("'id' must be a string", field="id")
    _check_parameters(payload.get("parameters"), "")
    raw_inputs = payload.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadRequest("'inputs' must be a non-empty list of tensors", field="inputs")
    inputs = tuple(_tensor(raw, index) for index, raw in enumerate(raw_inputs))
    seen: set[str] = set()
    for tensor in inputs:
        if tensor.name in seen:
            raise BadRequest(f"input {tensor.name!r} appears twice", field=tensor.name)
        seen.add(tensor.name)
    return InferRequest(request_id, inputs, _requested_outputs(payload.get("outputs")))


def _check_parameters(raw: Any, where: str, field: str | None = None) -> None:
    if raw is not None and not isinstance(raw, dict):
        raise BadRequest(
            f"{where}parameters must be an object", field=field or where + "parameters"
        )


def _tensor(raw: Any, index: int) -> Tensor:
    where = f"inputs[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object with name, shape, datatype, data", field=where)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{where}.name must be a non-empty string", field=where)
    if raw.get("parameters") is not None:
        _check_parameters(raw["parameters"], f"input {name!r}: ", name)
    shape = raw.get("shape")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise BadRequest(
            f"input {name!r}: shape must be a list of non-negative integers; got {shape!r}",
            field=name,
        )
    if len(shape) > MAX_DIMENSIONS:
        raise BadRequest(
            f"input {name!r}: shape has {len(shape)} dimensions; at most {MAX_DIMENSIONS}",
            field=name,
        )
    named = raw.get("datatype")
    datatype = DATATYPES.get(named) if isinstance(named, str) else None
    if datatype is None:
        raise BadRequest(
            f"input {name!r}: datatype must be one of {', '.join(DATATYPES)}; got {named!r}",
            field=name,
        )
    if "data" not in raw:
        raise BadRequest(
            f"input {name!r} has no 'data'; this server takes tensor data as JSON only "
            "(no binary tensor extension)",
            field=name,
        )
    values = _flatten(raw["data"], shape, name)
    _check_values(values, datatype, name)
    return Tensor(name, tuple(shape), datatype, values)


def _flatten(data: Any, shape: list[int], name: str) -> list[Any]:
    """``data`` flat, row-major. Nested data must follow ``shape`` level by level; flat
    data must hold exactly the shape's number of values."""
    if not isinstance(data, list):
        raise BadRequest(f"input {name!r}: data must be a list; got {data!r}", field=name)
    size = math.prod(shape)
    if data and isinstance(data[0], list):
        flat: list[Any] = []
        _nested(data, shape, 0, flat, name)
        return flat
    if len(data) != size:
        raise BadRequest(
            f"input {name!r}: shape {shape} holds {size} values; data has {len(data)}",
            field=name,
        )
    return data


def _nested(data: list, shape: list[int], depth: int, out: list, name: str) -> None:
    if depth >= len(shape) or len(data) != shape[depth]:
        got = len(data) if depth < len(shape) else "an extra level"
        raise BadRequest(
            f"input {name!r}: nested data does not follow shape {shape} "
            f"(dimension {depth}: expected {shape[depth] if depth < len(shape) else 'none'}, "
            f"got {got})",
            field=name,
        )
    if depth == len(shape) - 1:
        if any(isinstance(item, list) for item in data):
            raise BadRequest(
                f"input {name!r}: nested data is deeper than shape {shape}", field=name
            )
        out.extend(data)
        return
    for item in data:
        if not isinstance(item, list):
            raise BadRequest(
                f"input {name!r}: nested data is shallower than shape {shape}", field=name
            )
        _nested(item, shape, depth + 1, out, name)


def _check_values(values: list[Any], datatype: Datatype, name: str) -> None:
    accepts = datatype.accepts
    for index, value in enumerate(values):
        if not accepts(value):
            raise BadRequest(
                f"input {name!r}: data[{index}] must be {datatype.expected()} "
                f"for {datatype.name}; got {value!r}",
                field=name,
            )


def _requested_outputs(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise BadRequest("'outputs' must be a list of {name}", field="outputs")
    names = []
    for index, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise BadRequest(f"outputs[{index}].name must be a string", field="outputs")
        if item.get("parameters") is not None:
            _check_parameters(item["parameters"], f"output {name!r}: ", name)
        if name not in OUTPUTS:
            raise BadRequest(
                f"unknown output {name!r}; this server answers {', '.join(OUTPUTS)}",
                field=name,
            )
        names.append(name)
    return tuple(names)


# --- request → records --------------------------------------------------------------------


def to_records(request: InferRequest, signature: Signature, *, open_fields: bool) -> list[dict]:
    """One record per row. ``open_fields`` (a version that looks features up): inputs that
    are not signature fields are entity keys or request fields, and fields may be missing
    (the feature store supplies them)."""
    types = dict(signature.inputs)
    inputs = request.inputs
    if len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].name not in types:
        return _matrix_records(inputs[0], signature)
    columns: dict[str, list[Any]] = {}
    rows: int | None = None
    first = ""
    for tensor in inputs:
        type_ = types.get(tensor.name)
        if type_ is None and not open_fields:
            raise BadRequest(
                f"unknown input {tensor.name!r}; the signature's fields are "
                f"{_listing(signature)} (or send one [N, {len(types)}] input of them in order)",
                field=tensor.name,
            )
        n = _column_rows(tensor)
        if rows is not None and n != rows:
            raise BadRequest(
                f"input {tensor.name!r} has {n} rows; input {first!r} has {rows}",
                field=tensor.name,
            )
        rows, first = n, first or tensor.name
        if type_ is not None:
            _check_field(tensor, repr(tensor.name), type_, tensor.values)
        columns[tensor.name] = tensor.values
    if not open_fields:
        for name, type_ in signature.inputs:
            if name not in columns:
                raise BadRequest(f"missing input {name!r} ({type_})", field=name)
    return _rows(list(columns), list(columns.values()), rows or 0)


def _column_rows(tensor: Tensor) -> int:
    shape = tensor.shape
    if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
        return shape[0]
    raise BadRequest(
        f"input {tensor.name!r} must have shape [N] or [N, 1]; got {list(shape)}",
        field=tensor.name,
    )


def _matrix_records(tensor: Tensor, signature: Signature) -> list[dict]:
    """An ``[N, F]`` tensor whose columns are the signature's fields in order."""
    rows, width = tensor.shape
    if width != len(signature.inputs):
        raise BadRequest(
            f"input {tensor.name!r} has {width} columns; a single [N, F] input needs "
            f"{len(signature.inputs)}, the signature's fields in order: {_listing(signature)}",
            field=tensor.name,
        )
    names = list(signature.names)
    columns = [tensor.values[i::width] for i in range(width)]
    for column, (name, type_) in zip(columns, signature.inputs, strict=True):
        _check_field(tensor, f"{tensor.name!r} column {name!r}", type_, column)
    return _rows(names, columns, rows)


def _check_field(tensor: Tensor, label: str, type_: str, values: list[Any]) -> None:
    """The datatype fits the field's type; a long takes no UINT64 past 2**63 - 1.
    ``label`` names the input (and column) in errors."""
    datatype = tensor.datatype
    if datatype.kind not in FIELD_KINDS[type_]:
        fits = ", ".join(d.name for d in DATATYPES.values() if d.kind in FIELD_KINDS[type_])
        fits = fits or "no v2 tensor carries a list per row: use POST /v1/predict"
        raise BadRequest(
            f"input {label} has datatype {datatype.name}; the signature's field is "
            f"{type_} (send {fits})",
            field=tensor.name,
        )
    if type_ == "long" and datatype.high > LONG_MAX:
        for value in values:
            if value > LONG_MAX:
                raise BadRequest(
                    f"input {label}: {value} does not fit the signature's long (64-bit signed)",
                    field=tensor.name,
                )


def _rows(names: list[str], columns: list[list[Any]], rows: int) -> list[dict]:
    if rows == 0:
        raise BadRequest("the inputs hold no rows", field="inputs")
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _listing(signature: Signature) -> str:
    return ", ".join(f"{name} ({type_})" for name, type_ in signature.inputs)


# --- answer → response --------------------------------------------------------------------


def encode_response(
    answer: dict, request: InferRequest, model_name: str, declared: str | None = None
) -> dict:
    """The predictor's answer as a v2 response: ``predict``, ``score`` and
    ``probabilities`` tensors (only those requested, when the request names some), and
    in ``parameters`` the prediction ids (comma-separated, for feedback), the model and
    the variant that answered. ``declared`` is the signature's output type, if any."""
    items = answer["predictions"]
    available = _output_tensors(items, declared)
    wanted = request.outputs if request.outputs is not None else tuple(available)
    for name in wanted:
        if name not in available:
            raise BadRequest(
                f"output {name!r} is not given by model {answer['model']!r} version "
                f"{answer['version']} (it answers {', '.join(available)})",
                field=name,
            )
    response: dict[str, Any] = {"model_name": model_name, "model_version": str(answer["version"])}
    if request.id is not None:
        response["id"] = request.id
    response["parameters"] = {
        "prediction_ids": ",".join(item["prediction_id"] for item in items),
        "model": answer["model"],
        "variant": answer["alias"],
    }
    response["outputs"] = [available[name] for name in dict.fromkeys(wanted)]
    return response


def _output_tensors(items: list[dict], declared: str | None) -> dict[str, dict]:
    n = len(items)
    tensors = {"predict": predict_tensor([item["prediction"] for item in items], declared)}
    if items and "score" in items[0]:
        scores = [item["score"] for item in items]
        tensors["score"] = {"name": "score", "shape": [n], "datatype": "FP64", "data": scores}
    if items and "probabilities" in items[0]:
        classes = list(items[0]["probabilities"])
        data = [item["probabilities"][label] for item in items for label in classes]
        tensors["probabilities"] = {
            "name": "probabilities",
            "shape": [n, len(classes)],
            "datatype": "FP64",
            "parameters": {"classes": orjson.dumps(classes).decode()},
            "data": data,
        }
    return tensors


def predict_tensor(values: list[Any], declared: str | None = None) -> dict:
    """The ``predict`` tensor: in the signature's declared output type when every value
    fits it (a classifier's True/False as a declared ``long`` is 1/0), else typed from the
    values: all booleans BOOL, all integers INT64, all numbers FP64, otherwise BYTES."""
    datatype, data = _declared(values, declared) if declared else (None, values)
    if datatype is None:
        datatype, data = _from_values(values)
    return {"name": "predict", "shape": [len(values)], "datatype": datatype, "data": data}


def _declared(values: list[Any], declared: str) -> tuple[str | None, list[Any]]:
    if declared == "string":
        return "BYTES", [_text(v) for v in values]
    if declared == "boolean" and all(type(v) is bool for v in values):
        return "BOOL", values
    if declared == "long" and all(_integral(v) for v in values):
        return "INT64", [int(v) for v in values]
    if declared == "double" and all(_number(v) for v in values):
        return "FP64", [float(v) for v in values]
    return None, values


def _from_values(values: list[Any]) -> tuple[str, list[Any]]:
    if all(type(v) is bool for v in values):
        return "BOOL", values
    if all(type(v) is int and -(2**63) <= v <= LONG_MAX for v in values):
        return "INT64", values
    if all(_number(v) for v in values):
        return "FP64", [float(v) for v in values]
    return "BYTES", [_text(v) for v in values]


def _number(value: Any) -> bool:
    return type(value) in (int, float, bool) and math.isfinite(value)


def _integral(value: Any) -> bool:
    if type(value) is float:
        return math.isfinite(value) and value.is_integer() and abs(value) <= LONG_MAX
    return type(value) in (int, bool) and -(2**63) <= value <= LONG_MAX


def _text(value: Any) -> str:
    """A BYTES element: strings as they are, a structured prediction (a recommender's
    ``{"items": [...]}``, an embedding) as JSON, anything else as its text."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


# --- metadata -----------------------------------------------------------------------------


def tensor_metadata(signature: Signature) -> tuple[list[dict], list[dict]]:
    """The model metadata's ``inputs`` (one per signature field, shape ``[-1]``) and
    ``outputs`` (``predict`` in the declared output type, when the signature declares one;
    a classifier also answers ``score`` and ``probabilities``, which only it can tell)."""
    inputs = [
        {"name": name, "datatype": FIELD_DATATYPES[type_], "shape": [-1]}
        for name, type_ in signature.inputs
    ]
    outputs = []
    if signature.outputs:
        type_ = signature.outputs[0][1]
        outputs.append({"name": "predict", "datatype": FIELD_DATATYPES[type_], "shape": [-1]})
    return inputs, outputs


def declared_output(signature: Signature) -> str | None:
    return signature.outputs[0][1] if signature.outputs else None
