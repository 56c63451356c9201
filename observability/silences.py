"""Create the spec's silences on a running Alertmanager through its v2 API, idempotently.

A silence is identified by its matchers and comment (which carries the spec's name); one
that already exists with the same end is left alone, one with another end is updated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests
import yaml


class SilenceError(RuntimeError):
    pass


@dataclass(frozen=True)
class Outcome:
    name: str
    action: str  # created, updated, unchanged, expired
    silence_id: str | None


def read_silences(path: Path) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SilenceError(f"{path}: cannot read silences: {exc}") from None
    return list(data.get("silences", []))


def _key(silence: dict[str, Any]) -> tuple[Any, ...]:
    matchers = tuple(sorted((m["name"], m["value"], bool(m.get("isRegex")), bool(m.get("isEqual", True)))
                            for m in silence["matchers"]))
    return matchers, silence["comment"]


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def apply_silences(url: str, silences: list[dict[str, Any]], timeout: float = 10.0,
                   now: datetime | None = None) -> list[Outcome]:
    api = url.rstrip("/") + "/api/v2/silences"
    now = now or datetime.now(timezone.utc)
    try:
        response = requests.get(api, timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise SilenceError(f"cannot list silences at {api}: {exc}") from None
    live = {}
    for existing in response.json():
        if existing.get("status", {}).get("state") in ("active", "pending"):
            live.setdefault(_key(existing), existing)
    outcomes = []
    for wanted in silences:
        ends = _parse_time(wanted["endsAt"])
        if ends <= now:
            outcomes.append(Outcome(wanted["name"], "expired", None))
            continue
        body = {k: wanted[k] for k in ("matchers", "comment", "createdBy", "endsAt")}
        body["startsAt"] = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        current = live.get(_key(wanted))
        if current is not None and _parse_time(current["endsAt"]) == ends:
            outcomes.append(Outcome(wanted["name"], "unchanged", current["id"]))
            continue
        if current is not None:
            body["id"] = current["id"]
            body["startsAt"] = current["startsAt"]
        try:
            posted = requests.post(api, json=body, timeout=timeout)
            posted.raise_for_status()
        except requests.RequestException as exc:
            detail = getattr(getattr(exc, "response", None), "text", "")
            raise SilenceError(f"cannot create silence {wanted['name']}: {exc} {detail}".strip()) from None
        outcomes.append(Outcome(wanted["name"], "updated" if current else "created", posted.json().get("silenceID")))
    return outcomes
