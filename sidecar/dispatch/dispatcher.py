"""Turn one message body into a response value and the notifications that follow it.

jsonrpcserver routes each checked request to its method and builds the
response; this module adds what it leaves to its caller: per-member checks
(see envelope), the protocol's error envelope for every failure, and the
outbox of notifications written after the response.
"""

from __future__ import annotations

import logging
from typing import Any

from jsonrpcserver import Success
from jsonrpcserver.dispatcher import dispatch_deserialized
from jsonrpcserver.exceptions import JsonRpcError
from jsonrpcserver.response import to_serializable_one
from oslash.either import Left

from sidecar.dispatch.context import ServerContext
from sidecar.dispatch.envelope import Member, parse_message
from sidecar.dispatch.methods import METHOD_TABLE, call_method
from sidecar.errors import (
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    FieldError,
    SidecarError,
    internal_error,
    validation_failed,
)
from sidecar.services.tasks import Notification

logger = logging.getLogger(__name__)


def error_response(error: SidecarError, response_id: Any, locale: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error.rpc_error(locale), "id": response_id}


class Dispatcher:
    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self.methods = {name: self._bind(name) for name in METHOD_TABLE}

    def handle(self, body: bytes) -> tuple[Any, list[Notification]]:
        """Return (response or None for notifications only, notifications to write after it)."""
        try:
            message = parse_message(body)
        except SidecarError as error:
            return error_response(error, None, self.context.locale), []

        responses = [response for response in map(self._handle_member, message.members) if response is not None]
        notifications = self.context.take_outbox()
        if not responses:
            return None, notifications
        return (responses if message.is_batch else responses[0]), notifications

    def _handle_member(self, member: Member) -> dict[str, Any] | None:
        if member.error is not None:
            return error_response(member.error, member.response_id, self.context.locale)

        request = member.request
        if isinstance(request["params"], list):
            if request["params"]:
                error = validation_failed(
                    "params must be an object with named fields, not an array",
                    [FieldError("", "params must be an object")],
                )
                return None if "id" not in request else error_response(error, request["id"], self.context.locale)
            request = {**request, "params": {}}

        return dispatch_deserialized(self.methods, self.context, self._to_protocol, request)

    def _to_protocol(self, response: Any) -> dict[str, Any]:
        """Give every library-made error (unknown method, say) the protocol's envelope."""
        if isinstance(response, Left):
            failure = response._error
            data = failure.data
            if not (isinstance(data, dict) and data.get("success") is False):
                error = self._library_error(failure)
                return error_response(error, failure.id, self.context.locale)
        return to_serializable_one(response)

    def _library_error(self, failure: Any) -> SidecarError:
        if failure.code == METHOD_NOT_FOUND.rpc_code:
            return SidecarError(METHOD_NOT_FOUND, f"Method {str(failure.data)[:100]!r} does not exist")
        logger.error("dispatch library error", extra={"event": "rpc.library_error", "code": failure.code})
        return internal_error()

    def _bind(self, name: str):
        def method(context: ServerContext, /, **params: Any):
            return self._call(name, params)

        return method

    def _call(self, name: str, params: Any):
        try:
            return Success(call_method(self.context, name, params))
        except SidecarError as error:
            self._log_failure(name, error)
            raise JsonRpcError(**error.rpc_error(self.context.locale)) from error
        except Exception:
            logger.exception("method failed with a bug", extra={"event": "rpc.internal_error", "method": name})
            raise JsonRpcError(**internal_error().rpc_error(self.context.locale)) from None

    def _log_failure(self, name: str, error: SidecarError) -> None:
        level = logging.ERROR if error.code is INTERNAL_ERROR else logging.INFO
        logger.log(level, "method failed", extra={"event": "rpc.failed", "method": name, "code": error.code.name, "detail": error.message})
