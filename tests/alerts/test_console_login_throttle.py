"""Console login throttling (issue 20, item 5) against a real server of two workers and the real
Redis: wrong passwords lock the username (the right one is refused with 429 until the lock ends,
then works; the lock doubles), a forged login (refused by the CSRF checks) counts for nothing,
many usernames from one address lock the address, and 48 parallel logins never run more PBKDF2
verifications at once than configured while /healthz answers. Each login is a browser's: the
login page, then the form with its token and Origin (tests/alerts/console_client.py)."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from services.alerts.analysts import (
    ITERATIONS,
    Analysts,
    hash_password,
    iterations_of,
    verify_password,
)
from tests.alerts import console_client
from tests.alerts.conftest import alerts_env
from tests.alerts.console_client import PASSWORD
from tests.conftest import TEST_REDIS_URL
from tests.services.conftest import Server, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BUSY = 'fraudops_alerts_login_throttled_total{reason="busy"}'
LIMITS = {
    "FRAUDOPS_ALERTS_LOGIN_MAX_FAILURES": "3",
    "FRAUDOPS_ALERTS_LOGIN_MAX_FAILURES_PER_ADDRESS": "6",
    "FRAUDOPS_ALERTS_LOGIN_LOCK_S": "1",
    "FRAUDOPS_ALERTS_LOGIN_CONCURRENCY": "1",
    "FRAUDOPS_ALERTS_LOGIN_QUEUE": "4",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    prefix = f"test{uuid.uuid4().hex[:10]}"
    entries = [{"username": n, "password_hash": hash_password(PASSWORD)} for n in ("ana", "bob")]
    db = f"sqlite:///{tmp_path_factory.mktemp('alerts')}/alerts.db"
    port = free_port()  # the console's public URL: the origin its forms are accepted from
    env = alerts_env(db, prefix, FRAUDOPS_ALERTS_ANALYSTS=json.dumps(entries), **LIMITS,
                     FRAUDOPS_ALERTS_PUBLIC_URL=f"http://127.0.0.1:{port}")  # fmt: skip
    s = Server(env, workers=2, service="alerts", port=port)
    yield s, prefix
    out = s.stop()
    client = redis.Redis.from_url(TEST_REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    assert "Traceback" not in out, out[-3000:]


@pytest.fixture
def url(server: tuple[Server, str]) -> str:
    """The server with no failure counted and no lock (each test starts clean)."""
    s, prefix = server
    client = redis.Redis.from_url(TEST_REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:console:login:*"))
    if keys:
        client.delete(*keys)
    return s.url


# one transport for all (a new one loads the CA certificates), a cookie jar per login
TRANSPORT = httpx.HTTPTransport()
HTTP = httpx.Client(timeout=30, transport=TRANSPORT)


def login(url: str, user: str, password: str) -> httpx.Response:
    """A browser's login, in a browser of its own (no cookie shared with other logins)."""
    # not closed: closing a client closes its transport, the one all share
    browser = httpx.Client(base_url=url, timeout=30, transport=TRANSPORT)
    return console_client.login(browser, user, password)


def metric(url: str, name: str) -> float:
    text = HTTP.get(url + "/metrics").text
    values = [float(v) for v in re.findall(rf"^{re.escape(name)} (\S+)$", text, re.M)]
    return max(values, default=0.0)


def test_wrong_passwords_lock_the_username_and_the_right_one_is_refused_too(url: str) -> None:
    throttled = metric(url, 'fraudops_alerts_login_throttled_total{reason="user"}')
    assert [login(url, "ana", f"wrong {i}").status_code for i in range(3)] == [401] * 3
    r = login(url, "ana", PASSWORD)  # the right password, during the lock: no oracle
    assert r.status_code == 429, r.text
    assert r.headers["retry-after"] == "1"
    assert "Too many failed logins for this username; try again in 1 s." in r.text
    assert metric(url, 'fraudops_alerts_login_throttled_total{reason="user"}') == throttled + 1
    assert login(url, "bob", PASSWORD).status_code == 303  # another name is not locked
    time.sleep(1.1)
    assert login(url, "ana", "wrong again").status_code == 401  # past the limit: 2 s now
    r = login(url, "ana", PASSWORD)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    time.sleep(2.1)
    assert login(url, "ana", PASSWORD).status_code == 303  # the lock ended: the login works
    assert login(url, "ana", "wrong").status_code == 401  # and the name's failures were forgiven
    assert login(url, "ana", PASSWORD).status_code == 303


def test_a_forged_login_counts_for_nothing(url: str) -> None:
    """The CSRF checks run before the throttle: a page elsewhere posting guesses neither learns
    anything nor locks the analyst out."""
    guess = {"Origin": "http://127.0.0.1:1"}  # a page elsewhere, without the console's token
    for i in range(8):
        data = {"username": "ana", "password": f"guess {i}"}
        assert HTTP.post(url + "/console/login", data=data, headers=guess).status_code == 403
    assert login(url, "ana", PASSWORD).status_code == 303


def test_many_names_from_one_address_lock_the_address(url: str) -> None:
    codes = [login(url, f"guess-{i}", "password").status_code for i in range(6)]
    assert codes == [401] * 6
    r = login(url, "bob", PASSWORD)
    assert r.status_code == 429 and "for this address" in r.text
    time.sleep(float(r.headers["retry-after"]) + 0.1)
    assert login(url, "bob", PASSWORD).status_code == 303


def test_parallel_logins_are_verified_one_at_a_time_and_healthz_answers(url: str) -> None:
    def healthz() -> float:
        started = time.perf_counter()
        assert HTTP.get(url + "/healthz").status_code == 200
        return time.perf_counter() - started

    idle = statistics.median(healthz() for _ in range(20))
    busy_before = metric(url, BUSY)
    done = threading.Event()
    busy: list[float] = []

    def probe() -> None:
        while not done.is_set():
            busy.append(healthz())
            time.sleep(0.02)

    with ThreadPoolExecutor(49) as pool:
        prober = pool.submit(probe)
        try:
            codes = list(pool.map(lambda _: login(url, "ana", PASSWORD).status_code, range(48)))
        finally:
            done.set()
        prober.result()
    assert set(codes) <= {303, 503} and codes.count(303) >= 2, codes
    assert metric(url, "fraudops_alerts_login_verifications_peak") == 1  # in either worker
    assert metric(url, BUSY) == busy_before + codes.count(503)
    # unthrottled, the threadpool full of PBKDF2 held /healthz for most of a second; the
    # 90th percentile, as the client's own 49 threads make a single probe late now and then
    p90 = statistics.quantiles(busy, n=10)[-1] if len(busy) > 1 else busy[0]
    assert p90 < max(0.25, 30 * idle), (idle, len(busy), sorted(busy)[-5:])


def test_new_hashes_use_600k_iterations_and_old_ones_still_verify() -> None:
    made = subprocess.run(
        [sys.executable, "-m", "fraudops.cli", "keys", "analyst", "--username", "ana"],
        input=PASSWORD + "\n", capture_output=True, text=True, check=True,
    )  # fmt: skip
    entry = json.loads(made.stdout)
    assert iterations_of(entry["password_hash"]) == ITERATIONS == 600_000
    assert Analysts.from_json(json.dumps([entry])).check("ana", PASSWORD)
    old = hash_password(PASSWORD, iterations=310_000)
    assert verify_password(PASSWORD, old) and not verify_password("wrong", old)
