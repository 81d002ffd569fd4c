"""Issue 12, must show 3: on PostgreSQL, 20 threads POSTing the same create with one
Idempotency-Key make one memo and get 20 identical answers."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from memos.models import Memo
from tests.api.conftest import token_client
from tests.api.test_memos_api import MEMOS, from_invoice_body
from tests.memos.creation_helpers import posted_invoice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 20


def test_twenty_threads_one_key_one_memo_twenty_identical_answers(operator):
    invoice = posted_invoice("100")
    body = from_invoice_body(invoice)
    # One client (and token) per thread, the same user: the key is the user's.
    clients = [token_client(operator) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    answers: list = [None] * THREADS

    def send(index: int) -> None:
        try:
            barrier.wait()
            response = clients[index].post(
                f"{MEMOS}from-invoice/", body, format="json", HTTP_IDEMPOTENCY_KEY="race"
            )
            answers[index] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Memo.objects.count() == 1
    assert {status for status, _ in answers} == {201}
    assert all(answer == answers[0] for answer in answers)
