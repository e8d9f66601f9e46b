"""Pipelines: train, gate, register and hand models to serving; triggers and runs."""

from ailayer.pipelines.gating import Candidate, Gate
from ailayer.pipelines.pipeline import STEPS, Pipeline, Pipelines, load_pipelines
from ailayer.pipelines.runner import PipelineService, StepEvent, launch
from ailayer.pipelines.runs import Run, RunStore, StepRecord
from ailayer.pipelines.steps import Tools

__all__ = [
    "STEPS",
    "Candidate",
    "Gate",
    "Pipeline",
    "PipelineService",
    "Pipelines",
    "Run",
    "RunStore",
    "StepEvent",
    "StepRecord",
    "Tools",
    "launch",
    "load_pipelines",
]
