from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.cluster.local import LocalCluster


def _cluster() -> Iterator[LocalCluster]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.fail("a Redis Cluster needs redis-server and redis-cli (make services)")
    cluster = LocalCluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster() -> Iterator[LocalCluster]:
    """A fresh 3-master/3-replica cluster of the test's own (it may kill nodes)."""
    yield from _cluster()


from tests.services.conftest import (  # noqa: E402,F401
    fast_config_file,
    keys,
    model_frame,
    registry_dir,
    scoring_env,
    trained,
)


@pytest.fixture(scope="module")
def module_cluster() -> Iterator[LocalCluster]:
    """One cluster for a module whose tests do not break it (no kill, no migration)."""
    yield from _cluster()
