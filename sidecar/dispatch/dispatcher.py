"""Turn one message body into the encoded response and the notifications that follow it.

jsonrpcserver routes each checked request to its method and builds the
response. This module adds what the library leaves to its caller:

- per-member checks (see envelope);
- the protocol's error envelope for every failure;
- the outbox of notifications written after the response;
- the encoding of each member's response on its own, so that one member that
  cannot be encoded spoils no other.

A create that committed always gets a success response. When anything fails
between the commit and the encoded response, the response is rebuilt from the
stored task. The dispatcher learns of the commit from the
marketing-task-created notification that the create queues right after it.
"""

from __future__ import annotations

import inspect
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
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    FieldError,
    SidecarError,
    internal_error,
    validation_failed,
)
from sidecar.services.tasks import TASK_CREATED, Notification, TaskService
from sidecar.transport.writer import encode_message

logger = logging.getLogger(__name__)

# Error texts are cut to these sizes, so that an error never carries a large
# input back (a 100,000-item list with every item invalid, say).
MAX_ERROR_MESSAGE_CHARS = 1000
MAX_ERROR_FIELDS = 50
MAX_FIELD_TEXT_CHARS = 200


def bounded(error: SidecarError) -> SidecarError:
    """Return error with its message, field paths and field list cut to the limits above."""
    message = _cut(error.message, MAX_ERROR_MESSAGE_CHARS)
    if len(error.fields) > MAX_ERROR_FIELDS:
        message = f"{message} ({len(error.fields)} invalid fields; the first {MAX_ERROR_FIELDS} are listed)"
    fields = [
        FieldError(_cut(field.path, MAX_FIELD_TEXT_CHARS), _cut(field.message, MAX_FIELD_TEXT_CHARS))
        for field in error.fields[:MAX_ERROR_FIELDS]
    ]
    return SidecarError(error.code, message, fields)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_response(error: SidecarError, response_id: Any, locale: str) -> dict[str, Any]:
    # NOTE: the id goes back whole, as JSON-RPC 2.0 requires; only
    # --max-message-bytes bounds a huge string id.
    return {"jsonrpc": "2.0", "error": bounded(error).rpc_error(locale), "id": response_id}


class Dispatcher:
    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self.methods = {name: self._bind(name) for name in METHOD_TABLE}

    def handle(self, body: bytes) -> tuple[bytes | None, list[Notification]]:
        """Return the encoded response (None when no response is due) and the notifications to write after it."""
        try:
            message = parse_message(body)
        except SidecarError as error:
            return encode_message(error_response(error, None, self.context.locale)), []

        answers = [answer for answer in map(self._answer_member, message.members) if answer is not None]
        notifications = self.context.take_outbox()
        if not answers:
            return None, notifications
        if message.is_batch:
            return b"[" + b",".join(answers) + b"]", notifications
        return answers[0], notifications

    def _answer_member(self, member: Member) -> bytes | None:
        """Dispatch one member and encode its response; any failure becomes an error response (none for a notification)."""
        outbox_mark = len(self.context.outbox)
        try:
            response = self._handle_member(member)
            return None if response is None else encode_message(response)
        except Exception:
            # Deliberately broad: whatever failed, the member still gets a response.
            logger.exception("building the response failed", extra={"event": "rpc.response_failed", "method": member.method})
            if member.notification:
                return None
            return self._answer_after_failure(member.response_id, outbox_mark)

    def _handle_member(self, member: Member) -> dict[str, Any] | None:
        if member.error is not None:
            # A well-formed notification gets no response even when its params
            # are invalid. A malformed request gets an error response with id null.
            logger.info(
                "request rejected",
                extra={"event": "rpc.rejected", "code": member.error.code.name, "detail": member.error.message[:MAX_ERROR_MESSAGE_CHARS]},
            )
            if member.notification and member.error.code is not INVALID_REQUEST:
                return None
            return error_response(member.error, member.response_id, self.context.locale)

        request = member.request
        if isinstance(request["params"], list):
            if request["params"]:
                error = validation_failed(
                    "params must be an object with named fields, not an array",
                    [FieldError("", "params must be an object")],
                )
                return None if member.notification else error_response(error, member.response_id, self.context.locale)
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

        # jsonrpcserver checks the params against inspect.signature(method) on
        # every call; a precomputed __signature__ spares rebuilding it each time.
        method.__signature__ = inspect.signature(method)
        return method

    def _call(self, name: str, params: Any):
        outbox_mark = len(self.context.outbox)
        try:
            return Success(call_method(self.context, name, params))
        except SidecarError as error:
            self._log_failure(name, error)
            if self._created_since(outbox_mark) is not None:
                return Success(self._stored_task_result(outbox_mark))
            raise JsonRpcError(**bounded(error).rpc_error(self.context.locale)) from error
        except Exception:
            logger.exception("method failed with a bug", extra={"event": "rpc.internal_error", "method": name})
            if self._created_since(outbox_mark) is not None:
                return Success(self._stored_task_result(outbox_mark))
            raise JsonRpcError(**internal_error().rpc_error(self.context.locale)) from None

    def _log_failure(self, name: str, error: SidecarError) -> None:
        level = logging.ERROR if error.code is INTERNAL_ERROR else logging.INFO
        logger.log(level, "method failed", extra={"event": "rpc.failed", "method": name, "code": error.code.name, "detail": error.message[:MAX_ERROR_MESSAGE_CHARS]})

    # --- responses for a create that committed -----------------------------

    def _created_since(self, outbox_mark: int) -> Notification | None:
        for notification in self.context.outbox[outbox_mark:]:
            if notification.method == TASK_CREATED:
                return notification
        return None

    def _stored_task_result(self, outbox_mark: int) -> dict[str, Any]:
        """Rebuild a committed create's result from the stored task, or from the task as created when it cannot be read."""
        created = self._created_since(outbox_mark)
        task_id = created.params["task"]["id"]
        logger.warning(
            "task committed but building its response failed; responding with the stored task",
            extra={"event": "rpc.committed_answer_rebuilt", "taskId": task_id, "seq": created.params["seq"]},
        )
        try:
            task = TaskService(self.context.database, self.context.now).get(task_id)["task"]
        except Exception:
            # Deliberately broad: the task as the create built it, inside the
            # transaction, is still a correct response.
            logger.exception("reading the committed task back failed", extra={"event": "rpc.committed_task_unreadable", "taskId": task_id})
            task = created.params["task"]
        return {"success": True, "replayed": False, "task": task}

    def _answer_after_failure(self, response_id: Any, outbox_mark: int) -> bytes:
        if self._created_since(outbox_mark) is not None:
            try:
                return encode_message({"jsonrpc": "2.0", "result": self._stored_task_result(outbox_mark), "id": response_id})
            except Exception:
                logger.exception("responding with the stored task of a committed create failed", extra={"event": "rpc.committed_answer_failed"})
        return encode_message(error_response(internal_error(), response_id, self.context.locale))
