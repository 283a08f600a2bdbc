"""Every error the service returns is JSON ``{"error": "...", "code": "..."}`` (tritonclient reads ``error``)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from voiceflow_inference.lifecycle.errors import ModelNotReadyError, ReloadError, VersionNotLoadedError
from voiceflow_inference.runtime.audio_input import InputError

logger = logging.getLogger(__name__)


class ErrorResponse(BaseModel):
    """The body of every non-2xx response."""

    error: str = Field(description="What went wrong, naming the field or rule", examples=["audio.shape: expected ..."])
    code: str = Field(description="Machine-readable error code", examples=["invalid_input"])


class ServiceError(Exception):
    """An error with an HTTP status and a code; raised by routes, rendered as ErrorResponse."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error response."""
    return JSONResponse({"error": message, "code": code}, status_code=status, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses=`` entries documenting the JSON error body for ``statuses``."""
    text = {
        400: "Invalid input (the message names the field or rule)",
        401: "Missing bearer token",
        403: "Wrong bearer token",
        404: "Not found (model, version, or admin disabled)",
        409: "Conflict (the requested change was refused; the current model keeps serving)",
        413: "Request body too large",
        415: "Unsupported media type",
        422: "Malformed request body",
        503: "No model loaded yet, or the server is draining",
    }
    return {s: {"model": ErrorResponse, "description": text.get(s, "Error")} for s in statuses}


def install_error_handlers(app: FastAPI) -> None:
    """Render every exception as ErrorResponse JSON (never FastAPI's ``{"detail": ...}``)."""

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.code, str(exc), headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for item in exc.errors()[:5]:
            loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            parts.append(f"{loc or 'body'}: {item.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JSONResponse:
        return error_response(400, "invalid_input", str(exc))

    @app.exception_handler(ModelNotReadyError)
    async def _not_ready(_: Request, exc: ModelNotReadyError) -> JSONResponse:
        return error_response(503, "not_ready", str(exc), headers={"Retry-After": "1"})

    @app.exception_handler(VersionNotLoadedError)
    async def _not_loaded(_: Request, exc: VersionNotLoadedError) -> JSONResponse:
        return error_response(404, "version_not_loaded", str(exc))

    @app.exception_handler(ReloadError)
    async def _reload(_: Request, exc: ReloadError) -> JSONResponse:
        return error_response(409, f"reload_refused:{exc.reason}", str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error (logged)")


__all__ = ["ErrorResponse", "ServiceError", "error_response", "install_error_handlers", "responses"]
