"""A busy database: retry the transaction that lost, then tell the user to try again.

Under concurrent operators the database may refuse a transaction that did nothing wrong: a
deadlock (PostgreSQL picks a victim), a serialization failure, a lock wait that ran past
`lock_timeout`, or SQLite's "database is locked". Each of these rolls the transaction back
completely, so running it again is safe, and usually succeeds.

Decision: the retry is per service call, not per request. A service is one transaction
(DESIGN.md rule 1); retrying it re-runs exactly the work that was rolled back. Retrying a whole
POST request would be safe only if every write of the request were in that one transaction, and
some views write more than one (a memo created, then its tax voided at an engine; a message put
in the session), so a request-level retry could do something twice.

`retry_when_busy` wraps a service's outermost transaction: called inside another transaction
(a service calling a service, or a test's transaction), it only runs the function, because a
savepoint cannot be retried once the enclosing transaction is aborted; the outermost caller
retries. After the last attempt it raises DatabaseBusy, and `DatabaseBusyMiddleware` answers
503 "The database is busy; nothing was changed. Try again." (htmx: the message out of band).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.contrib.messages import constants as message_levels
from django.contrib.messages.storage.base import Message
from django.db import OperationalError, connection
from django.http import HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

BUSY_MESSAGE = "The database is busy; nothing was changed. Try again."

# PostgreSQL SQLSTATEs of a transaction refused for what others were doing at the same time:
# deadlock_detected, serialization_failure, lock_not_available (lock_timeout, NOWAIT).
RETRYABLE_SQLSTATES = {"40P01", "40001", "55P03"}
# SQLite's words for the same (its busy timeout ran out).
SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")

F = TypeVar("F", bound=Callable)


class DatabaseBusy(OperationalError):
    """A transaction was refused as busy as many times as we retry: nothing was written."""

    def __init__(self, message: str = BUSY_MESSAGE, *, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


def sqlstate(exc: BaseException) -> str | None:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) or getattr(
        getattr(cause, "diag", None), "sqlstate", None
    )


def is_busy(exc: BaseException) -> bool:
    """Whether `exc` is a database refusing a transaction for what others were doing."""
    if isinstance(exc, DatabaseBusy):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if sqlstate(exc) in RETRYABLE_SQLSTATES:
        return True
    text = str(exc).lower()
    return any(words in text for words in SQLITE_BUSY)


def attempts() -> int:
    return max(1, int(getattr(settings, "DATABASE_BUSY_ATTEMPTS", 4)))


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential, with full jitter so that the
    transactions that collided do not collide again in step."""
    base = float(getattr(settings, "DATABASE_BUSY_BACKOFF_SECONDS", 0.05))
    return random.uniform(0, base * 2**attempt)  # noqa: S311 (not security)


def retry_when_busy(func: F) -> F:
    """Run `func` again (a bounded number of times) when the database refuses its transaction as
    busy; then raise DatabaseBusy. Put it above `@transaction.atomic`, on services only: the
    function must be one transaction with no effect outside the database that a retry repeats."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if connection.in_atomic_block:
            # Inside someone else's transaction: a failure aborts theirs; the outermost retries.
            return func(*args, **kwargs)
        limit = attempts()
        for attempt in range(1, limit + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if isinstance(exc, DatabaseBusy) or not is_busy(exc):
                    raise
                if attempt == limit:
                    logger.warning(
                        "%s: database busy %d times (%s); giving up",
                        func.__qualname__,
                        attempt,
                        sqlstate(exc) or exc,
                    )
                    raise DatabaseBusy(attempts=attempt) from exc
                logger.info(
                    "%s: database busy (%s); retry %d of %d",
                    func.__qualname__,
                    sqlstate(exc) or exc,
                    attempt,
                    limit - 1,
                )
                time.sleep(backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper  # type: ignore[return-value]


def busy_response(request) -> HttpResponse:
    """503 with the busy message: a page, or for htmx the message out of band into #messages
    (nothing else is swapped)."""
    if getattr(request, "htmx", False):
        body = render_to_string(
            "components/_messages.html",
            {"messages": [Message(message_levels.ERROR, BUSY_MESSAGE)], "oob": True},
        )
        response = HttpResponse(body, status=503)
        response["HX-Reswap"] = "none"
    else:
        # A page that needs no query: the database is what is busy.
        response = HttpResponse(render_to_string("503.html", {"message": BUSY_MESSAGE}), status=503)
    response["Retry-After"] = "1"
    return response


class DatabaseBusyMiddleware:
    """Turns a busy database (retries exhausted, or a refusal that could not be retried) into the
    503 of `busy_response` instead of a server error. Last in MIDDLEWARE, so it sees the view's
    exception first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_busy(exception):
            return None
        logger.warning("%s %s: %s", request.method, request.path, exception)
        return busy_response(request)
