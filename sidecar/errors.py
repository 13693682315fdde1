"""The stable error codes of the protocol and the exceptions that carry them.

Services raise these exceptions; the dispatch layer turns them into JSON-RPC
error objects in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sidecar.messages import user_message


@dataclass(frozen=True)
class ErrorCode:
    name: str
    rpc_code: int
    retryable: bool


PARSE_ERROR = ErrorCode("PARSE_ERROR", -32700, False)
INVALID_REQUEST = ErrorCode("INVALID_REQUEST", -32600, False)
METHOD_NOT_FOUND = ErrorCode("METHOD_NOT_FOUND", -32601, False)
VALIDATION_FAILED = ErrorCode("VALIDATION_FAILED", -32602, False)
INTERNAL_ERROR = ErrorCode("INTERNAL_ERROR", -32603, False)
DATABASE_NOT_READY = ErrorCode("DATABASE_NOT_READY", -32001, False)
DATABASE_BUSY = ErrorCode("DATABASE_BUSY", -32002, True)
DATABASE_UNAVAILABLE = ErrorCode("DATABASE_UNAVAILABLE", -32003, False)
IDEMPOTENCY_CONFLICT = ErrorCode("IDEMPOTENCY_CONFLICT", -32004, False)
NOT_FOUND = ErrorCode("NOT_FOUND", -32005, False)

ALL_CODES = (
    PARSE_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    VALIDATION_FAILED,
    INTERNAL_ERROR,
    DATABASE_NOT_READY,
    DATABASE_BUSY,
    DATABASE_UNAVAILABLE,
    IDEMPOTENCY_CONFLICT,
    NOT_FOUND,
)


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str


@dataclass
class SidecarError(Exception):
    """A failure with a stable code, reported to the client as ErrorInfo."""

    code: ErrorCode
    message: str
    fields: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def error_info(self, locale: str) -> dict[str, Any]:
        info: dict[str, Any] = {
            "code": self.code.name,
            "message": self.message,
            "userMessage": user_message(self.code.name, locale),
            "retryable": self.code.retryable,
        }
        if self.code is VALIDATION_FAILED:
            info["fields"] = [{"path": f.path, "message": f.message} for f in self.fields]
        return info

    def rpc_error(self, locale: str) -> dict[str, Any]:
        """Build the JSON-RPC error object, with ErrorInfo under data."""
        return {
            "code": self.code.rpc_code,
            "message": self.message,
            "data": {"success": False, "error": self.error_info(locale)},
        }


def parse_error(message: str) -> SidecarError:
    return SidecarError(PARSE_ERROR, message)


def invalid_request(message: str) -> SidecarError:
    return SidecarError(INVALID_REQUEST, message)


def not_found(message: str) -> SidecarError:
    return SidecarError(NOT_FOUND, message)


def validation_failed(message: str, fields: list[FieldError]) -> SidecarError:
    return SidecarError(VALIDATION_FAILED, message, fields)


def internal_error() -> SidecarError:
    # The client learns no more than that it was a bug; the log has the cause.
    return SidecarError(INTERNAL_ERROR, "Internal error; see the sidecar log for details")
