"""The Open Inference Protocol v2 shapes, as OpenAPI schemas of the ``/v2`` routes.

Documentation only: the infer body is read with orjson and checked by the codec
(``ailayer.serving.oip``), never parsed into these models on the hot path. The request
schema is written out so that it is exactly as strict as the codec (a schema-valid body
may still be refused for its signature, never the other way round).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ailayer.api.errors import DESCRIPTIONS
from ailayer.serving.oip import DATATYPES, OUTPUTS


class OipError(BaseModel):
    error: str = Field(description="What went wrong; names the input or output at fault")


class OipServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class OipLive(BaseModel):
    live: bool


class OipReady(BaseModel):
    ready: bool


class OipModelReady(BaseModel):
    name: str
    ready: bool


class OipTensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 for the batch dimension")


class OipModelMetadata(BaseModel):
    name: str = Field(description="The endpoint")
    versions: list[str] = Field(description="Versions of its model that /versions/{v} takes")
    platform: str = Field(description="The model's flavor: sklearn, lightgbm, onnx")
    inputs: list[OipTensorMetadata]
    outputs: list[OipTensorMetadata]


class OipOutputTensor(BaseModel):
    name: str = Field(description=" | ".join(OUTPUTS))
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = Field(
        None, description="probabilities: `classes`, the column names as a JSON array"
    )
    data: list[Any]


class OipInferParameters(BaseModel):
    prediction_ids: str = Field(description="One id per row, comma-separated (for feedback)")
    model: str = Field(description="The registered model behind the endpoint")
    variant: str = Field(
        description="The alias or variant that answered; `pinned` for /versions/{v}"
    )


class OipInferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = Field(None, description="The request's id, echoed")
    parameters: OipInferParameters
    outputs: list[OipOutputTensor]


_PARAMETERS = {"type": "object", "description": "Accepted and ignored"}
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string", "enum": list(DATATYPES)},
        "parameters": _PARAMETERS,
        "data": {"type": "array", "description": "Row-major values, flat or nested as the shape"},
    },
}
_EXAMPLE = {
    "id": "req-1",
    "inputs": [
        {"name": "amount", "shape": [2], "datatype": "FP64", "data": [120.5, 1890.0]},
        {"name": "card_age_days", "shape": [2, 1], "datatype": "FP64", "data": [[300], [2]]},
    ],
    "outputs": [{"name": "predict"}, {"name": "score"}],
}
INFER_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "parameters": _PARAMETERS,
                    "inputs": {"type": "array", "minItems": 1, "items": _TENSOR},
                    "outputs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string", "enum": list(OUTPUTS)},
                                "parameters": _PARAMETERS,
                            },
                        },
                    },
                },
            },
            "example": _EXAMPLE,
        }
    },
}

OIP_DESCRIPTIONS = {**DESCRIPTIONS, 400: "A malformed request or a tensor that does not fit"}


def oip_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` for a v2 route: errors as ``{"error": "message"}``."""
    codes = sorted({503, *statuses})
    return {s: {"model": OipError, "description": OIP_DESCRIPTIONS[s]} for s in codes}
