# syntax=docker/dockerfile:1
# The Beam jobs and the retraining loop (backfill, dataset build, train, retrain, scheduler):
#   docker build -f docker/beam.Dockerfile -t fraudops-jobs .
#   docker run --rm fraudops-jobs dataset build --history /data/history.parquet --out /data/datasets
# For Dataflow, add the gcp extra at build time: --build-arg EXTRAS=pipelines,train,feedback,gcp
# (apache-beam[gcp] is about 1 GB and not a default extra).

FROM python:3.11-slim-bookworm AS build
ARG EXTRAS=pipelines,train,feedback
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY fraudops fraudops
COPY beam_pipelines beam_pipelines
COPY models models
COPY services services
COPY retraining retraining
# hadolint ignore=DL3013
RUN pip install --no-cache-dir -c requirements.lock ".[${EXTRAS}]"

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 fraudops \
    && useradd --system --uid 10001 --gid fraudops --home-dir /app --no-create-home fraudops
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
ENTRYPOINT ["fraudops"]
CMD ["--help"]
