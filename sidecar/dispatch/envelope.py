"""Parse a message body and check each JSON-RPC 2.0 request object.

jsonrpcserver validates a whole batch against one schema and rejects it whole
when one member is bad; here each member is checked on its own so that the
valid members of a batch still run, as JSON-RPC 2.0 requires.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sidecar.errors import SidecarError, invalid_request, parse_error

MAX_BATCH_SIZE = 1000


@dataclass
class Member:
    """One request of a message: either a valid request or the error that replaces its response."""

    request: dict[str, Any] | None
    error: SidecarError | None = None
    response_id: Any = None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def decode_body(body: bytes) -> Any:
    """Decode UTF-8 JSON, rejecting NaN, Infinity, out-of-range numbers and lone surrogates."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise parse_error(f"Message is not valid UTF-8 (byte {error.start})") from None

    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except RecursionError:
        raise parse_error("Message is nested too deeply to parse") from None
    except ValueError as error:
        raise parse_error(f"Message is not valid JSON: {str(error)[:200]}") from None

    # A \ud800-style escape decodes to a lone surrogate, which no UTF-8 text
    # (the database's or the client's) can hold. The cheap byte test skips the
    # walk for almost every message.
    if b"\\u" in body and _has_lone_surrogate(value):
        raise parse_error("Message contains a string with a lone surrogate (invalid Unicode)")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _valid_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))


def check_member(member: Any) -> Member:
    if not isinstance(member, dict):
        return Member(None, invalid_request("Request must be a JSON object"))

    has_id = "id" in member
    request_id = member.get("id")
    if has_id and not _valid_id(request_id):
        return Member(None, invalid_request("Request id must be a string, a number or null"))
    # An invalid request is answered with its id when the id itself is valid,
    # so the client can still tell which call failed.
    response_id = request_id if has_id else None

    if member.get("jsonrpc") != "2.0":
        return Member(None, invalid_request('Request must have "jsonrpc": "2.0"'), response_id)
    method = member.get("method")
    if not isinstance(method, str):
        return Member(None, invalid_request("Request must have a string method"), response_id)
    if "params" in member and not isinstance(member["params"], (dict, list)):
        return Member(None, invalid_request("Request params must be an object or an array"), response_id)

    # Extra top-level members are ignored: JSON-RPC 2.0 does not forbid them.
    request = {"jsonrpc": "2.0", "method": method, "params": member.get("params", {})}
    if has_id:
        request["id"] = request_id
    return Member(request, None, response_id)


@dataclass
class ParsedMessage:
    members: list[Member]
    is_batch: bool


def parse_message(body: bytes) -> ParsedMessage:
    """Raise SidecarError for a body that is not one request or a non-empty batch."""
    value = decode_body(body)
    if isinstance(value, list):
        if not value:
            raise invalid_request("Batch must not be empty")
        if len(value) > MAX_BATCH_SIZE:
            raise invalid_request(f"Batch has {len(value)} requests; at most {MAX_BATCH_SIZE} are accepted")
        return ParsedMessage([check_member(item) for item in value], True)
    return ParsedMessage([check_member(value)], False)
