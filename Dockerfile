# The exporter image: the project installed from this repository, serving /metrics on 9464.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md observability.yaml ./
COPY observability ./observability
COPY generators ./generators
COPY exporter ./exporter
RUN pip install . && useradd --system --uid 10001 orchestrator
USER orchestrator
EXPOSE 9464
CMD ["orchestrator", "demo", "--scenario", "normal", "--host", "0.0.0.0", "--port", "9464", "--log-dir", "/tmp/orchestrator-logs"]
