"""Orchestrator observability as code: one spec, its model, lint, and the tools around them."""

SPEC_FILE = "observability.yaml"
