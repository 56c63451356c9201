"""Types and validators shared by the spec's sections."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

SPEC_VERSION = "v1"
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO")
Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]

_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"'{value}' is not a duration such as 30s, 5m or 1h")
    return value


def _metric_name(value: str) -> str:
    if not _METRIC_NAME.match(value):
        raise ValueError(f"'{value}' is not a valid Prometheus metric name")
    return value


def _label_name(value: str) -> str:
    if not _LABEL_NAME.match(value) or value.startswith("__"):
        raise ValueError(f"'{value}' is not a valid label name")
    return value


def _identifier(value: str) -> str:
    if not _IDENT.match(value):
        raise ValueError(f"'{value}' must be lower_snake_case")
    return value


def _timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"'{value}' is not a timestamp such as 2026-02-21T02:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{value}' is not a timestamp such as 2026-02-21T02:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError(f"'{value}' needs a time zone, for example a trailing Z for UTC")
    return parsed


Duration = Annotated[str, AfterValidator(_duration)]
MetricName = Annotated[str, AfterValidator(_metric_name)]
LabelName = Annotated[str, AfterValidator(_label_name)]
Identifier = Annotated[str, AfterValidator(_identifier)]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
