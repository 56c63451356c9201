"""The promtool/amtool wrapper. No Docker engine runs here, so the image path is tested by
the arguments it would hand to docker-py, and by the message when nothing is available."""

from __future__ import annotations

from pathlib import Path

import pytest

from observability import stack, tools


def test_docker_run_arguments(tmp_path: Path) -> None:
    kwargs = tools.docker_run_kwargs("promtool", ["check", "rules", "alert_rules/a.yml"], tmp_path)
    assert kwargs["image"] == stack.PROMETHEUS_IMAGE
    assert kwargs["entrypoint"] == ["/bin/promtool"]
    assert kwargs["command"] == ["check", "rules", "alert_rules/a.yml"]
    assert kwargs["volumes"] == {str(tmp_path.resolve()): {"bind": "/work", "mode": "ro"}}
    assert kwargs["working_dir"] == "/work"
    assert kwargs["network_disabled"] is True and kwargs["remove"] is True
    assert tools.docker_run_kwargs("amtool", [], tmp_path)["image"] == stack.ALERTMANAGER_IMAGE


def test_images_are_pinned_to_exact_versions() -> None:
    for image in tools.IMAGES.values():
        name, _, tag = image.partition(":")
        assert tag.startswith("v") and tag.count(".") == 2 and tag != "latest", image


def test_found_on_path() -> None:
    tool = tools.find("promtool")
    assert tool.path is not None and Path(tool.path).name == "promtool"


def test_missing_tool_without_engine_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(tools, "_docker_client", lambda: None)
    with pytest.raises(tools.ToolMissing) as info:
        tools.find("amtool")
    message = str(info.value)
    assert "apt-get install prometheus-alertmanager" in message and "brew install alertmanager" in message


def test_missing_tool_with_engine_runs_from_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(tools, "_docker_client", lambda: object())
    assert tools.find("promtool") == tools.Tool("promtool", None)


def test_docker_engine_is_reported_absent_here() -> None:
    """This machine has a docker client but no engine: the probe must say so, not hang."""
    assert tools._docker_client() is None
