"""Score requests from a pool of threads, each its own keep-alive httpx client, recording every
answer (or the exception) with when it was sent."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx

from tests.services.conftest import PAYMENT


@dataclass(frozen=True)
class Answer:
    sent: float  # time.monotonic()
    status: int  # 0: no answer (``error`` says why)
    model_version: str | None
    error: str | None = None


class Load:
    def __init__(self, url: str, key: str, threads: int) -> None:
        self.url, self.headers = url, {"Authorization": f"Bearer {key}"}
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def start(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return self.answers

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=10) as client:
            i = 0
            while not self._stop.is_set():
                i += 1
                payment = {
                    **PAYMENT,
                    "transaction_id": f"fleet-{n}-{i}",
                    "customer_id": f"c-{n}-{i % 20}",
                    "terminal_id": f"t-{i % 50}",
                }
                sent = time.monotonic()
                try:
                    r = client.post("/v1/score", json=payment)
                except httpx.HTTPError as exc:
                    self.answers.append(Answer(sent, 0, None, f"{type(exc).__name__}: {exc}"))
                    continue
                version = r.json().get("model_version") if r.status_code == 200 else None
                error = None if r.status_code == 200 else r.text[:200]
                self.answers.append(Answer(sent, r.status_code, version, error))
