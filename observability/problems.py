"""Problems found in a spec, and how they are reported: `file:line:col: path: message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """('alerts', 3, 'severity') -> 'alerts[3].severity'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str
    level: Literal["error", "warning"] = "error"


@dataclass
class SourceMap:
    """Where each node of the YAML document starts, keyed by its path."""

    filename: str
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path) -> tuple[int, int]:
        # A missing key has no position of its own: report its nearest parent.
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                return self.positions[path[:end]]
        return (1, 1)

    def format(self, problem: Problem) -> str:
        line, col = self.locate(problem.path)
        prefix = "warning: " if problem.level == "warning" else ""
        return f"{self.filename}:{line}:{col}: {prefix}{format_path(problem.path)}: {problem.message}"


class SpecError(Exception):
    """A spec that cannot be used. Carries every problem found, already formatted."""

    def __init__(self, lines: list[str], warnings: list[str] | None = None):
        super().__init__("\n".join(lines))
        self.lines = lines
        self.warnings = warnings or []
