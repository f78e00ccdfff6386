"""The API's one error shape: `{"success": false, "error": ..., "errors": [{field, reason}]}`."""

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status, self.message, self.errors, self.headers = (
            status,
            message,
            errors or [],
            headers,
        )


def field_errors(err: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    errors = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        reason = e["msg"].removeprefix("Value error, ")
        if not loc and ": " in reason:  # model-level checks name their field first
            loc, reason = reason.split(": ", 1)
        errors.append({"field": f"{prefix}{loc}" if loc else prefix.rstrip("."), "reason": reason})
    return errors


async def api_error_response(_: Request, exc: ApiError) -> JSONResponse:
    """The exception handler every app of ours installs for ApiError."""
    body: dict[str, Any] = {"success": False, "error": exc.message}
    if exc.errors:
        body["errors"] = exc.errors
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def validation_error_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own checks (query, path, JSON bodies) answer in our shape, as 400."""
    errors = [
        {
            "field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
            "reason": e["msg"],
        }
        for e in exc.errors()
    ]
    return await api_error_response(request, ApiError(400, "invalid request", errors))


async def http_error_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's and FastAPI's own refusals (no such route, method not allowed, a body that
    is not JSON) answer in our shape too; a refused body names the field `body`."""
    message = str(exc.detail)
    errors = [{"field": "body", "reason": message}] if exc.status_code == 400 else None
    return await api_error_response(
        request, ApiError(exc.status_code, message, errors, headers=dict(exc.headers or {}))
    )
