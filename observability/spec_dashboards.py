"""The `dashboards` section of the spec: Grafana dashboards described by their panels."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .spec_base import Identifier, LabelName, Strict

PanelType = Literal["timeseries", "stat", "gauge", "bargauge", "piechart", "table"]


class QuerySpec(Strict):
    expr: str = Field(min_length=1)
    legend: str | None = None
    instant: bool = False


class ThresholdStep(Strict):
    """A colour from `value` upwards; the first step has no value. `value` is a number or
    the name of a threshold from the thresholds block."""

    color: str = Field(min_length=1)
    value: float | str | None = None


class PanelSpec(Strict):
    title: str = Field(min_length=1)
    type: PanelType
    unit: str = Field(min_length=1)
    description: str | None = None
    width: int = Field(12, ge=1, le=24)
    height: int = Field(8, ge=2, le=40)
    queries: list[QuerySpec] = Field(min_length=1)
    thresholds: list[ThresholdStep] = []
    min: float | None = None
    max: float | None = None
    stack: bool = False

    @model_validator(mode="after")
    def _base_step_first(self) -> PanelSpec:
        if self.thresholds and self.thresholds[0].value is not None:
            raise ValueError("the first threshold step is the base colour and has no value")
        if any(step.value is None for step in self.thresholds[1:]):
            raise ValueError("every threshold step after the first needs a value")
        return self


class RowSpec(Strict):
    title: str = Field(min_length=1)
    panels: list[PanelSpec] = Field(min_length=1)


class VariableSpec(Strict):
    name: Identifier
    label: str | None = None
    query: str = Field(min_length=1)
    # The series labels this variable filters; every query reading one must apply it.
    applies_to: list[LabelName] = Field(min_length=1)
    multi: bool = True
    include_all: bool = True


class DashboardSpec(Strict):
    uid: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,40}$")
    title: str = Field(min_length=1)
    description: str | None = None
    tags: list[str] = []
    refresh: str = Field("30s", pattern=r"^\d+[smhd]$")
    time_from: str = "now-6h"
    home: bool = False
    variables: list[VariableSpec] = []
    rows: list[RowSpec] = Field(min_length=1)
