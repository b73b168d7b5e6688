# syntax=docker/dockerfile:1
# The feedback service. Build from the repository root:
#   docker build -f docker/feedback.Dockerfile -t fraudops-feedback .
# Dependencies are pinned by requirements.lock; the image runs as a non-root user.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY fraudops fraudops
COPY models models
COPY services services
# versions come from the lock file (-c); the project itself is the local source
# hadolint ignore=DL3013
RUN pip install --no-cache-dir -c requirements.lock ".[feedback]"

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 fraudops \
    && useradd --system --uid 10001 --gid fraudops --home-dir /app --no-create-home fraudops
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8001/healthz', timeout=2)"]
ENTRYPOINT ["fraudops", "serve", "feedback", "--host", "0.0.0.0", "--port", "8001"]
CMD ["--workers", "2"]
