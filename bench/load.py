"""The load generator: concurrent HTTP clients in a process of their own, so they do not share the server's cores'
interpreter. Started by bench/run.py with a JSON job on standard input; prints a JSON report on standard output.

Jobs:
  {"mode": "ballots", "tokens": [...], "proposal_ids": [...], "round": id}   PUT /api/v1/rounds/<id>/ballot
  {"mode": "ballots", "targets": [{"tokens": ..., "proposal_ids": ..., "round": ...}, ...]}   the same, client n
      saving in target n mod len(targets) (rounds of several circles at once)
  {"mode": "baseline"}                                                       POST /_bench/insert
  {"mode": "pages", "pages": {"name": "/path", ...}, "email": ..., "password": ...}  GET each page in turn
Common: "base" (http://127.0.0.1:PORT), "clients", "seconds", "warmup".
"""

from __future__ import annotations

import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse
from typing import Any


class Client:
    """One simulated person: a cookie jar and a connection per request (gunicorn's sync workers close them)."""

    def __init__(self, base: str) -> None:
        parsed = urllib.parse.urlsplit(base)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:  # noqa: E501
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        all_headers = dict(headers or {})
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        connection.close()
        return response.status, data

    def login(self, email: str, password: str) -> None:
        _, page = self.request("GET", "/login")
        match = re.search(rb'<meta name="csrf-token" content="([^"]+)"', page)
        assert match, "no CSRF token on the log-in page"
        form = urllib.parse.urlencode({"csrf_token": match.group(1).decode(), "email": email, "password": password})
        status, _ = self.request("POST", "/login", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 302, f"log-in failed: {status}"


def run(job: dict[str, Any]) -> dict[str, Any]:
    mode, base = job["mode"], job["base"]
    clients, seconds, warmup = job["clients"], job["seconds"], job.get("warmup", 1.0)
    samples: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    #: Every request made, warm-up and refusals included: what the server's CPU was spent on.
    answered: dict[str, int] = {}
    lock = threading.Lock()
    start_at = time.monotonic() + 0.5
    measure_from, stop_at = start_at + warmup, start_at + warmup + seconds

    def worker(number: int) -> None:
        rng = random.Random(number)
        client = Client(base)
        if mode == "pages":
            client.login(job["email"], job["password"])
        pages = list(job.get("pages", {}).items())
        rng.shuffle(pages)
        turn = 0
        if mode == "ballots":
            targets = job.get("targets") or [job]
            target = targets[number % len(targets)]
            # Each client is a voter of its own (while there are tokens enough): no two wait on one ballot's lock.
            token = target["tokens"][(number // len(targets)) % len(target["tokens"])]
        while time.monotonic() < start_at:
            time.sleep(0.01)
        while True:
            began = time.monotonic()
            if began >= stop_at:
                break
            if mode == "ballots":
                votes = {str(pid): rng.choice([1, 2]) for pid in rng.sample(target["proposal_ids"], 12)}
                name = "ballot"
                status, _ = client.request(
                    "PUT", f"/api/v1/rounds/{target['round']}/ballot", json.dumps({"votes": votes}).encode(),
                    {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )  # fmt: skip
            elif mode == "baseline":
                name = "baseline"
                status, _ = client.request("POST", "/api/_bench/insert")
            else:
                name, path = pages[turn % len(pages)]
                turn += 1
                status, _ = client.request("GET", path)
            elapsed = time.monotonic() - began
            with lock:
                answered[name] = answered.get(name, 0) + 1
                if status >= 400:
                    errors[f"{name} {status}"] = errors.get(f"{name} {status}", 0) + 1
                elif began >= measure_from and time.monotonic() <= stop_at:
                    samples.setdefault(name, []).append(elapsed)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report: dict[str, Any] = {"seconds": seconds, "errors": errors, "answered": answered, "pages": {}}
    for name, values in samples.items():
        values.sort()
        report["pages"][name] = {
            "count": len(values),
            "per_second": len(values) / seconds,
            "p50": values[len(values) // 2],
            "p95": values[min(len(values) - 1, int(len(values) * 0.95))],
        }
    return report


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
