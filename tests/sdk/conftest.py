"""divar-sim for clients written against real Divar: the simulator on a free loopback port,
its control API, and tokens minted for the scopes a call needs.

The simulator binary is built by scripts/sdk-test.sh (cargo build of divar-sim); its events
URL points at a loopback port that a test may serve (the KenarBot echo bot does).
"""

import json
import os
import re
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIM_BIN = ROOT / "divar-sim" / "target" / "debug" / "divar-sim"
API_KEY = "sdk-test-api-key-0123456789"
IDENT_KEY = "sdk-test-identification-key-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sim:
    def __init__(self, base, events_port, proc):
        self.base = base
        self.events_port = events_port
        self.proc = proc

    def control(self, method, path, body=None):
        """A control call; returns (status, json)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def ok(self, method, path, body=None):
        status, value = self.control(method, path, body)
        assert status == 200, f"{method} {path}: {status} {value}"
        return value

    def chat(self):
        return self.ok("POST", "/_sim/chats", {})

    def token(self, user_id, scopes):
        return self.ok("POST", "/_sim/tokens", {"user_id": user_id, "scopes": scopes})["access_token"]

    def requests(self, since=0, endpoint=None):
        q = f"?since={since}" + (f"&endpoint={endpoint}" if endpoint else "")
        return self.ok("GET", "/_sim/requests" + q)["requests"]

    def last_request_id(self):
        reqs = self.requests()
        return reqs[-1]["id"] if reqs else 0


@pytest.fixture(scope="session")
def sim():
    assert SIM_BIN.exists(), f"{SIM_BIN} is missing: run scripts/sdk-test.sh (it builds it)"
    events_port = free_port()
    app = f"http://127.0.0.1:{events_port}"
    proc = subprocess.Popen(
        [
            str(SIM_BIN), "--port", "0", "--app-base", app,
            "--events-url", f"{app}/webhook",
            "--api-key", API_KEY, "--identification-key", IDENT_KEY,
            "--webhook-timeout-ms", "5000",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    base = None
    for line in proc.stdout:
        m = re.search(r"divar-sim listening on (http://127\.0\.0\.1:\d+)", line)
        if m:
            base = m.group(1)
            break
    assert base, "divar-sim did not start"
    # Keep reading its output so a chatty run never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    yield Sim(base, events_port, proc)
    proc.terminate()
    proc.wait(timeout=10)
