"""Parse a message body and check each JSON-RPC 2.0 request object.

jsonrpcserver validates a whole batch against one schema and rejects it whole
when one member is invalid. Here each member is checked on its own, so the
valid members of a batch still run, as JSON-RPC 2.0 requires.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from sidecar.errors import FieldError, SidecarError, invalid_request, parse_error, validation_failed

MAX_BATCH_SIZE = 1000
# SQLite stores integers as signed 64-bit values; a larger one would fail at
# the bind, after validation, as an internal error.
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1

# Values that parse as JSON but that no method can take:
# - a \ud800-style escape decodes to a lone surrogate, which no UTF-8 text (the
#   database's or the client's) can contain;
# - 1e999 decodes to infinity;
# - an integer of 19 or more digits may not fit SQLite.
# These byte patterns let almost every message skip the walk over its params.
_SUSPECT_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\d{19}|[eE][+-]?\d{3}")


@dataclass
class Member:
    """One request of a message: either a valid request or the error that replaces its response."""

    request: dict[str, Any] | None
    error: SidecarError | None = None
    response_id: Any = None
    # True for a well-formed request without an id, which gets no response.
    notification: bool = False
    method: str | None = None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_body(body: bytes) -> Any:
    """Decode UTF-8 JSON; NaN and Infinity, which JSON does not have, are parse errors."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise parse_error(f"Message is not valid UTF-8 (byte {error.start})") from None

    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise parse_error("Message is nested too deeply to parse") from None
    except ValueError as error:
        raise parse_error(f"Message is not valid JSON: {str(error)[:200]}") from None


def find_unusable_value(value: Any) -> tuple[str, str] | None:
    """Return (path, reason) of a string, number or key in value that no method can take, or None."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        reason = _unusable_reason(item)
        if reason is not None:
            return path, reason
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if _unusable_reason(key) is not None:
                    return child_path, "field name contains a lone surrogate (invalid Unicode)"
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{path}.{index}" if path else str(index), child) for index, child in enumerate(item))
    return None


def _unusable_reason(item: Any) -> str | None:
    if isinstance(item, str):
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (invalid Unicode)"
    elif isinstance(item, float) and not math.isfinite(item):
        return "number is out of range"
    elif isinstance(item, int) and not isinstance(item, bool) and not MIN_INTEGER <= item <= MAX_INTEGER:
        return f"integer is out of range ({MIN_INTEGER}..{MAX_INTEGER})"
    return None


def _valid_id(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def check_member(member: Any, body_is_suspect: bool) -> Member:
    if not isinstance(member, dict):
        return Member(None, invalid_request("Request must be a JSON object"))

    has_id = "id" in member
    request_id = member.get("id")
    if has_id and not _valid_id(request_id):
        return Member(None, invalid_request("Request id must be a string, a finite number or null"))
    # The error response to an invalid request carries its id when the id
    # itself is valid, so the client can still tell which call failed.
    response_id = request_id if has_id else None

    if member.get("jsonrpc") != "2.0":
        return Member(None, invalid_request('Request must have "jsonrpc": "2.0"'), response_id)
    method = member.get("method")
    if not isinstance(method, str):
        return Member(None, invalid_request("Request must have a string method"), response_id)
    params = member.get("params", {})
    if not isinstance(params, (dict, list)):
        return Member(None, invalid_request("Request params must be an object or an array"), response_id)

    # Extra top-level members are ignored: JSON-RPC 2.0 does not forbid them.
    request = {"jsonrpc": "2.0", "method": method, "params": params}
    if has_id:
        request["id"] = request_id
    checked = Member(request, None, response_id, notification=not has_id, method=method)

    unusable = find_unusable_value(params) if body_is_suspect else None
    if unusable is not None:
        path, reason = unusable
        checked.error = validation_failed(f"Invalid params: {path or 'params'}: {reason}", [FieldError(path, reason)])
    return checked


@dataclass
class ParsedMessage:
    members: list[Member]
    is_batch: bool


def parse_message(body: bytes) -> ParsedMessage:
    """Raise SidecarError for a body that is not one request or a non-empty batch."""
    value = decode_body(body)
    suspect = _SUSPECT_BYTES.search(body) is not None
    if isinstance(value, list):
        if not value:
            raise invalid_request("Batch must not be empty")
        if len(value) > MAX_BATCH_SIZE:
            raise invalid_request(f"Batch has {len(value)} requests; at most {MAX_BATCH_SIZE} are accepted")
        return ParsedMessage([check_member(item, suspect) for item in value], True)
    return ParsedMessage([check_member(value, suspect)], False)
