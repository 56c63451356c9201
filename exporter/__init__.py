"""Runtime instrumentation the orchestrator imports: metrics, structured logs, correlation context."""
