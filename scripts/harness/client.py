"""Requests to the private servers from any loopback address, which never raise:
a request with no answer is an Answer of status 0 saying why."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from typing import Any, Mapping

REQUEST_TIMEOUT = 40


class Answer:
    """One response (status 0 when there was none) and who answered it."""

    def __init__(
        self,
        status: int = 0,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        error: str | None = None,
    ) -> None:
        self.status = status
        self.headers = dict(headers or {})
        self.body = body
        self.error = error
        self.seconds = 0.0

    @property
    def upstream(self) -> str:
        """The uWSGI socket nginx used last (X-Upstream lists every one it tried)."""
        return self.headers.get("x-upstream", "").split(",")[-1].strip()

    @property
    def retried(self) -> bool:
        return "," in self.headers.get("x-upstream", "")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self) -> str:
        text = self.error or self.body[:300].decode(errors="replace")
        return f"<{self.status} from {self.upstream or '?'}: {text}>"


class Addresses:
    """Client addresses: every 127.x.y.z is loopback, so clients can differ."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    def take(self) -> str:
        with self.lock:
            self.count += 1
            return f"127.0.{1 + self.count // 250}.{1 + self.count % 250}"


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    source: str = "127.0.0.1",
    timeout: float | None = None,
) -> Answer:
    """``method path`` on 127.0.0.1:``port`` from ``source``, ``body`` as JSON."""
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    began = time.monotonic()
    connection = http.client.HTTPConnection(
        "127.0.0.1",
        port,
        timeout=timeout or REQUEST_TIMEOUT,
        source_address=(source, 0),
    )
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        answer = Answer(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    except (OSError, http.client.HTTPException) as error:
        answer = Answer(error=f"{type(error).__name__}: {error}")
    finally:
        connection.close()
    answer.seconds = time.monotonic() - began
    return answer


def location_path(created: Answer, feature: str) -> str:
    """The path in a 201's Location (a made-up one if there is none)."""
    location = created.headers.get("location")
    if not location:
        return f"/v1/{feature}/none"
    return urllib.parse.urlsplit(location).path
