"""A small synchronous HTTP client for a running VoiceFlow inference service (probes, admin API, `/infer`).

Used by ``voiceflow-inference deploy``. Every failure becomes :class:`ServiceCallError` whose message names the call,
the HTTP status and the server's ``{"error", "code"}`` body, so the deploy report can say exactly what went wrong.
The admin token is sent only in the ``Authorization`` header and never appears in messages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import orjson


class ServiceCallError(RuntimeError):
    """A call to the service failed: unreachable, timed out, or an unexpected HTTP status.

    ``status`` is the HTTP status (None when no response came back) and ``code`` the service's error code.
    """

    def __init__(self, call: str, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(f"{call}: {message}")
        self.call = call
        self.status = status
        self.code = code


@dataclass(frozen=True)
class TimedResponse:
    """One HTTP answer with its round-trip time (seconds, measured around the request only)."""

    status: int
    body: Any
    seconds: float
    headers: dict[str, str]


class ServiceClient:
    """Talk to one service at ``base_url``; ``token`` is the admin bearer token (None: admin calls are refused)."""

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, follow_redirects=False)

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # ------------------------------------------------------------------ transport
    def request(
        self,
        method: str,
        path: str,
        *,
        admin: bool = False,
        json_body: Any = None,
        content: bytes | None = None,
        timeout: float | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> TimedResponse:
        """Send one request; returns the status, the decoded JSON body (or text) and the round-trip seconds.

        Raises:
            ServiceCallError: the server could not be reached or did not answer in time.
        """
        call = f"{method} {path}"
        headers = {"Accept": "application/json", **(extra_headers or {})}
        if admin:
            if not self._token:
                raise ServiceCallError(call, "no admin token (pass --token or set VOICEFLOW_ADMIN_TOKEN)")
            headers["Authorization"] = f"Bearer {self._token}"
        if json_body is not None:
            content = orjson.dumps(json_body)
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            started = time.perf_counter()
            response = self._http.request(
                method, path, content=content, headers=headers, timeout=timeout or self.timeout
            )
            seconds = time.perf_counter() - started
        except httpx.TimeoutException as exc:
            raise ServiceCallError(
                call, f"no answer from {self.base_url} within {timeout or self.timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise ServiceCallError(call, f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}") from exc
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return TimedResponse(response.status_code, body, seconds, dict(response.headers))

    def _expect(self, response: TimedResponse, call: str, *ok: int) -> Any:
        if response.status in ok:
            return response.body
        if isinstance(response.body, dict) and "error" in response.body:
            message, code = str(response.body["error"]), response.body.get("code")
        else:
            message, code = str(response.body)[:300], None
        hint = ""
        if response.status == 401:
            hint = " (send a token: --token or VOICEFLOW_ADMIN_TOKEN)"
        elif response.status == 403:
            hint = " (the token does not match the server's VOICEFLOW_ADMIN_TOKEN)"
        elif response.status == 404 and code == "admin_disabled":
            hint = " (start the server with VOICEFLOW_ADMIN_TOKEN set)"
        raise ServiceCallError(
            call,
            f"HTTP {response.status}{f' {code}' if code else ''}: {message}{hint}",
            status=response.status,
            code=str(code) if code is not None else None,
        )

    # ------------------------------------------------------------------ probes
    def health(self) -> dict[str, Any]:
        """``GET /health`` (must be 200)."""
        body: dict[str, Any] = self._expect(self.request("GET", "/health", timeout=30), "GET /health", 200)
        return body

    def ready(self) -> tuple[int, dict[str, Any]]:
        """``GET /ready``: (status, body). 503 is a normal answer (no model yet, or draining)."""
        response = self.request("GET", "/ready", timeout=30)
        if response.status not in (200, 503) or not isinstance(response.body, dict):
            self._expect(response, "GET /ready", 200, 503)
            raise ServiceCallError("GET /ready", f"HTTP {response.status}: not a readiness document")
        return response.status, response.body

    # ------------------------------------------------------------------ admin
    def admin_models(self) -> dict[str, Any]:
        """``GET /admin/models`` (checks the token too)."""
        body: dict[str, Any] = self._expect(self.request("GET", "/admin/models", admin=True), "GET /admin/models", 200)
        return body

    def reload(self, version: str) -> dict[str, Any]:
        """``POST /admin/reload {"version": ...}``: pull, validate, warm and activate on the server."""
        call = "POST /admin/reload"
        body: dict[str, Any] = self._expect(
            self.request("POST", "/admin/reload", admin=True, json_body={"version": version}), call, 200
        )
        return body

    def pin(self, version: str | None) -> dict[str, Any]:
        """``POST /admin/pin {"version": ...}``; None unpins."""
        call = "POST /admin/pin"
        body: dict[str, Any] = self._expect(
            self.request("POST", "/admin/pin", admin=True, json_body={"version": version}), call, 200
        )
        return body

    def rollback(self, version: str) -> dict[str, Any]:
        """``POST /admin/rollback {"version": ...}``: activate a (still loaded, else pulled) version; clears A/B."""
        call = "POST /admin/rollback"
        body: dict[str, Any] = self._expect(
            self.request("POST", "/admin/rollback", admin=True, json_body={"version": version}), call, 200
        )
        return body

    # ------------------------------------------------------------------ inference
    def infer(self, payload: bytes, request_id: str) -> TimedResponse:
        """``POST /infer`` with a pre-encoded JSON body (so the timing excludes client-side encoding)."""
        return self.request(
            "POST",
            "/infer",
            content=payload,
            timeout=min(self.timeout, 30.0),
            extra_headers={"X-Request-ID": request_id},
        )


__all__ = ["ServiceCallError", "ServiceClient", "TimedResponse"]
