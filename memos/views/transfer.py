"""Reviewers mark many memos Transferred to Accounting at once, from the memo list (DOMAIN.md 2.5).

The list's "Mark selected as: Processing | Yes" posts the ticked numbers here. Each memo goes
through the same service as the in-place control (`set_transferred_to_accounting`), so the rules
are the service's: only posted memos, and leaving Yes needs the override permission.

Decision: per memo, not all or nothing. A reviewer who ticks 50 rows of which 2 are already at
Yes (or were unposted meanwhile) wants the other 48 marked, and to be told exactly which 2 were
skipped and why. The memos are locked together, in id order (the order every service locks
memos in), inside one transaction, and each memo's change is a savepoint of it: a refusal undoes
only that memo, an unexpected error undoes them all.
"""

from __future__ import annotations

import copy
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views import View

from billing import permissions as perms
from billing.http import safe_next_url
from billing.permissions import PermissionMixin
from memos.models import TransferStatus
from memos.services.transfer import (  # noqa: F401 (the limit is part of the page)
    BULK_TRANSFER_LIMIT,
    BULK_TRANSFER_VALUES,
    BulkTransferOutcome,
    mark_transferred,
)
from memos.views.lists import MemoListView

# Numbers listed in one message; the rest are counted.
NUMBERS_SHOWN = 20


def listed(numbers: list[str]) -> str:
    shown = ", ".join(numbers[:NUMBERS_SHOWN])
    rest = len(numbers) - NUMBERS_SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown


def memos_word(count: int) -> str:
    return f"{count} memo" if count == 1 else f"{count} memos"


def report(request: HttpRequest, outcome: BulkTransferOutcome, value: str) -> None:
    """One message per kind of outcome, naming the memos."""
    label = TransferStatus(value).label
    if outcome.changed:
        messages.success(
            request,
            f"{memos_word(len(outcome.changed))} marked Transferred to Accounting: {label}: "
            f"{listed(outcome.changed)}.",
        )
    if outcome.already:
        messages.info(
            request,
            f"{memos_word(len(outcome.already))} already at {label}, left as they were: "
            f"{listed(outcome.already)}.",
        )
    if outcome.needs_override:
        messages.warning(
            request,
            f"Skipped {memos_word(len(outcome.needs_override))} already Transferred to "
            "Accounting: Yes (changing it from Yes needs the override permission): "
            f"{listed(outcome.needs_override)}.",
        )
    if outcome.not_posted:
        messages.warning(
            request,
            f"Skipped {memos_word(len(outcome.not_posted))} that are not posted (only posted "
            f"memos are transferred to accounting): {listed(outcome.not_posted)}.",
        )
    if outcome.not_found:
        messages.warning(request, f"No memo with the number {listed(outcome.not_found)}.")
    for refusal in outcome.refused:
        messages.error(request, refusal)


class MemoBulkTransferView(PermissionMixin, View):
    """POST /memos/transfer/: `number` (repeated), `transferred_to_accounting`, `next`.

    htmx gets the list's refreshed results (the filters and page of `next`) with the messages
    out of band; a plain form post is redirected back to `next` with the messages.
    """

    http_method_names = ["post"]
    # The answer is the memo list itself, so reading memos is needed too (every role has it).
    permission_required = (perms.CHANGE_TRANSFER, perms.VIEW_MEMOS)

    def post(self, request: HttpRequest) -> HttpResponse:
        # Each number once, in the order ticked.
        typed = (number.strip() for number in request.POST.getlist("number"))
        numbers = list(dict.fromkeys(number for number in typed if number))
        value = request.POST.get("transferred_to_accounting", "")
        if value not in BULK_TRANSFER_VALUES:
            messages.error(request, "Nothing was changed: mark the memos Processing or Yes.")
        elif not numbers:
            messages.error(request, "Nothing was changed: select at least one posted memo first.")
        elif len(numbers) > BULK_TRANSFER_LIMIT:
            messages.error(
                request,
                f"Nothing was changed: at most {BULK_TRANSFER_LIMIT} memos can be marked at once, "
                f"and {len(numbers)} were selected.",
            )
        else:
            outcome = mark_transferred(
                numbers=numbers,
                value=value,
                actor=request.user,
                may_override=request.user.has_perm(perms.OVERRIDE_TRANSFER),
            )
            report(request, outcome, value)
        next_url = safe_next_url(request, reverse("memos:memo_list"))
        if not request.htmx:
            return redirect(next_url)
        response = BulkTransferResultsView.as_view()(as_list_request(request, next_url))
        patch_vary_headers(response, ("HX-Request",))
        return response


class BulkTransferResultsView(MemoListView):
    """The memo list's results partial plus the messages, out of band into #messages."""

    partial_name = "bulk_results"


def as_list_request(request: HttpRequest, next_url: str) -> HttpRequest:
    """The request as the GET of the list page it came from, to render that page's results.

    The partial's links (clear filters, export, `next` of the forms) are built from the request,
    so they must be the list's, not this endpoint's. Same user, session, messages and CSRF token.
    """
    list_path = reverse("memos:memo_list")
    parts = urlsplit(next_url)
    query = parts.query if parts.path == list_path else ""
    list_request = copy.copy(request)
    list_request.method = "GET"
    list_request.path = list_request.path_info = list_path
    list_request.META = {**request.META, "REQUEST_METHOD": "GET", "QUERY_STRING": query}
    list_request.GET = QueryDict(query)
    list_request.POST = QueryDict()
    return list_request
