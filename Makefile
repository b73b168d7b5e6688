# fraudops developer commands. `make test` is what CI runs (via .ci/run).
SHELL := /bin/bash
comma := ,
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,pipelines,dask,train,scoring,feedback,alerts,demo,mlflow
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: setup test test-cluster test-fleet test-dask test-fast lint format bench benchmark-handbook demo services clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[$(EXTRAS)]'
	touch $(STAMP)

setup: $(STAMP)

services:  ## make sure Redis and PostgreSQL answer (starts them if installed and down)
	@bash scripts/ensure_services.sh

test: setup services
	$(PY) -m pytest -q

test-cluster: setup services  ## the tests against a local Redis Cluster (scripts/redis_cluster.sh)
	$(PY) -m pytest -q -m cluster

test-fleet: setup services  ## 3 scoring instances behind HAProxy: SIGTERM and hot swap under load; the drains
	$(PY) -m pytest -q -m fleet tests/fleet tests/services/test_drain.py

test-dask: setup services  ## the pipelines on Beam's DaskRunner (a local scheduler + 2 workers), the ~50k case too
	$(PY) -m pytest -q -m dask

test-fast: setup
	$(PY) -m pytest -q -m "not integration and not slow"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup services
	@command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk </dev/null >/dev/null; }
	$(VENV)/bin/fraudops bench core
	$(VENV)/bin/fraudops bench pipeline
	$(VENV)/bin/fraudops bench scoring

benchmark-handbook: setup  ## model quality under the Handbook protocols (about 6 min)
	$(VENV)/bin/fraudops simulate --customers 5000 --terminals 10000 --days 183 \
	  --start-date 2018-04-01 --seed 0 --out data/handbook.parquet --format handbook
	$(VENV)/bin/fraudops benchmark handbook --data data/handbook.parquet

DEMO_EXTRAS := pipelines,train,scoring,feedback,alerts,demo

demo:  ## the whole loop: embedded Redis (unless REDIS_URL), SQLite, three services
	$(MAKE) setup EXTRAS=$(DEMO_EXTRAS)
	$(VENV)/bin/fraudops demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
