"""The annotation template subset renders as Prometheus does (checked for real by promtool
in test_real_tools; these pin the formatting rules)."""

from __future__ import annotations

import pytest

from observability.gotemplate import TemplateError, go_float, humanize, humanize1024, humanize_duration, labels_used, render


@pytest.mark.parametrize("value, text", [
    (25, "25"), (0.3, "0.3"), (1200, "1200"), (123456, "123456"), (1e6, "1e+06"),
    (734003200, "7.340032e+08"), (0.0001, "0.0001"), (0.00001, "1e-05"), (-2.5, "-2.5"), (0, "0"),
])
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


def test_humanize_family() -> None:
    assert humanize(117000) == "117k"
    assert humanize(0.5) == "500m"
    assert humanize(1) == "1"
    assert humanize1024(734003200) == "700Mi"
    assert humanize_duration(45) == "45s"
    assert humanize_duration(3725) == "1h 2m 5s"
    assert humanize_duration(90061) == "1d 1h 1m 1s"
    assert humanize_duration(0.25) == "250ms"


def test_render_with_labels_and_functions() -> None:
    text = "{{ $labels.agent }}: {{ $value | humanizePercentage }} ({{ printf \"%.2f\" $value }}), {{ humanize $value }}"
    assert render(text, {"agent": "Coder"}, 0.4) == "Coder: 40% (0.40), 400m"
    assert labels_used(text) == {"agent"}


@pytest.mark.parametrize("text", ["{{ .Labels.agent }}", "{{ $value | title }}", "{{ range $labels }}{{ end }}"])
def test_unsupported_actions_are_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        labels_used(text)
