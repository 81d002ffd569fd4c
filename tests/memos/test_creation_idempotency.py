"""Idempotency keys of the create services (DOMAIN.md 2.2, 2.3; DESIGN.md API conventions): a key
is bound to the user who used it and to a digest of what was submitted. The same user, key and
content answer with the first memo; the same key with other content, or from another user, is
refused and creates nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from billing import roles
from billing.factories import ChargeFactory, UserFactory
from billing.models import NumberSeries, TaxMode
from memos.models import Memo, MemoType
from memos.services import ChargeLine, create_memo_from_charges, creation
from tests.memos.creation_helpers import (
    MEMO_DATE,
    D,
    account,
    db_state,
    from_invoice,
    items_of,
    last_number,
    posted_invoice,
    refused,
    row,
)

pytestmark = pytest.mark.django_db

CREDIT, DEBIT = MemoType.CREDIT, MemoType.DEBIT
OTHER_CONTENT = (
    "This form was already used to create credit memo {number} from other input, so nothing "
    "was created. Open {number}, or reload this page to start a new memo."
)
OTHER_USER = (
    "This form was already used by another user, so nothing was created. "
    "Reload this page to start a new memo."
)


@pytest.fixture
def admin():
    return UserFactory(username="admin-user", roles=[roles.BILLING_ADMIN])


def charges(acct, lines, *, actor, **kwargs) -> Memo:
    kwargs.setdefault("memo_type", CREDIT)
    kwargs.setdefault("memo_date", MEMO_DATE)
    return create_memo_from_charges(account=acct, lines=lines, actor=actor, **kwargs)


def page_error(info) -> str:
    [message] = info.value.message_dict["__all__"]
    return message


def test_a_retry_with_the_same_content_answers_with_the_first_memo(operator):
    invoice = posted_invoice("100", "50")
    first_item, second_item = items_of(invoice)
    lines = [row(first_item, "100.00"), row(second_item, "20", description="Part")]
    first = from_invoice(invoice, lines, idempotency_key="k1", actor=operator)
    assert first.replayed is False
    # The same input, written differently (100 vs 100.00), is the same content.
    again = from_invoice(
        invoice,
        [row(first_item, "100"), row(second_item, "20.00", description="Part")],
        idempotency_key="k1",
        actor=operator,
    )
    assert again.pk == first.pk
    assert again.replayed is True
    assert Memo.objects.count() == 1
    assert last_number(NumberSeries.Key.CREDIT_MEMO) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"memo_type": DEBIT},
        {"memo_date": MEMO_DATE + dt.timedelta(days=1)},
        {"comments": "Other"},
        {"tax_auto_calculation": False},
        {"apply_to_invoice_on_post": True},
        {"lines": "amount"},
        {"lines": "tax_mode"},
        {"lines": "description"},
        {"lines": "fewer"},
        {"invoice": "other"},
    ],
    ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()),
)
def test_the_same_key_with_other_content_is_refused(operator, change):
    invoice = posted_invoice("100", "50")
    first_item, second_item = items_of(invoice)
    first = from_invoice(
        invoice, [row(first_item, "10"), row(second_item, "5")], idempotency_key="k", actor=operator
    )
    kwargs = dict(change)
    lines = [row(first_item, "10"), row(second_item, "5")]
    what = kwargs.pop("lines", None)
    if what == "amount":
        lines[1] = row(second_item, "6")
    elif what == "tax_mode":
        lines[1] = row(second_item, "5", tax_mode=TaxMode.INCLUSIVE)
    elif what == "description":
        lines[1] = row(second_item, "5", description="Changed")
    elif what == "fewer":
        lines = lines[:1]
    target = invoice
    if kwargs.pop("invoice", None):
        target = posted_invoice("100", "50")
        lines = [row(item, "10") for item in items_of(target)[:1]]
    with refused() as info:
        from_invoice(target, lines, idempotency_key="k", actor=operator, **kwargs)
    assert page_error(info) == OTHER_CONTENT.format(number=first.number)
    assert info.value.error_dict["__all__"][0].code == "idempotency_conflict"


def test_another_user_with_the_same_key_is_refused(operator, admin):
    """The incident: an admin reused an operator's key with another type, account and amount,
    and was sent to the operator's memo while his own memo was silently lost."""
    invoice = posted_invoice("100")
    first = from_invoice(invoice, idempotency_key="shared", actor=operator)
    other_invoice = posted_invoice("70")
    with refused() as info:
        from_invoice(other_invoice, memo_type=DEBIT, idempotency_key="shared", actor=admin)
    assert page_error(info) == OTHER_USER
    # Not even the same content from another user is answered with someone else's memo.
    with refused() as info:
        from_invoice(invoice, idempotency_key="shared", actor=admin)
    assert page_error(info) == OTHER_USER
    assert list(Memo.objects.all()) == [first]


def test_charges_a_retry_answers_and_other_content_is_refused(operator, admin):
    acct = account()
    charge, other = ChargeFactory(), ChargeFactory()
    lines = [ChargeLine(charge=charge, amount=D("10"), quantity=D("2"))]
    first = charges(acct, lines, idempotency_key="c1", actor=operator)
    again = charges(
        acct,
        [ChargeLine(charge=charge, amount=D("10.00"), quantity=D("2.000"))],
        idempotency_key="c1",
        actor=operator,
    )
    assert (again.pk, again.replayed) == (first.pk, True)
    for changed in (
        {"lines": [ChargeLine(charge=other, amount=D("10"), quantity=D("2"))]},
        {"lines": [ChargeLine(charge=charge, amount=D("10"), quantity=D("3"))]},
        {
            "lines": [
                ChargeLine(
                    charge=charge,
                    amount=D("10"),
                    quantity=D("2"),
                    service_start=dt.date(2025, 3, 1),
                )
            ]
        },
        {"lines": lines, "account": account()},
        {"lines": lines, "memo_type": DEBIT},
        {"lines": lines, "exclude_from_auto_apply": True},
    ):
        target = changed.pop("account", acct)
        with refused() as info:
            charges(target, idempotency_key="c1", actor=operator, **changed)
        assert page_error(info) == OTHER_CONTENT.format(number=first.number)
    with refused() as info:
        charges(acct, lines, idempotency_key="c1", actor=admin)
    assert page_error(info) == OTHER_USER


def test_a_key_of_an_invoice_memo_is_refused_on_the_charges_form(operator):
    invoice = posted_invoice("100")
    first = from_invoice(invoice, idempotency_key="k", actor=operator)
    with refused() as info:
        charges(
            invoice.account,
            [ChargeLine(charge=ChargeFactory(), amount=D("10"))],
            idempotency_key="k",
            actor=operator,
        )
    assert page_error(info) == OTHER_CONTENT.format(number=first.number)


def test_the_digest_is_stored_with_the_memo(operator):
    memo = from_invoice(posted_invoice("100"), idempotency_key="k", actor=operator)
    assert len(memo.idempotency_digest) == 64
    assert memo.created_by == operator
    plain = from_invoice(posted_invoice("100"), actor=operator)
    assert (plain.idempotency_key, plain.idempotency_digest) == (None, "")


def test_a_key_longer_than_64_characters_is_refused(operator):
    with refused() as info:
        from_invoice(posted_invoice("100"), idempotency_key="k" * 65, actor=operator)
    assert info.value.message_dict == {
        "idempotency_key": ["The form's submission key is longer than 64 characters."]
    }
    assert from_invoice(posted_invoice("100"), idempotency_key="k" * 64, actor=operator)


def test_a_race_lost_to_another_users_memo_is_refused_too(operator, admin, monkeypatch):
    """Two submits with one key, the second from another user: the second is not looked up
    before it is written (a submit that validates is looked up only if its insert fails), so
    it meets the first memo at insert, as one racing a first submit not yet committed does. It
    is refused like any other key reuse, and consumes no number."""
    invoice = posted_invoice("100")
    first = from_invoice(invoice, idempotency_key="race", actor=operator)
    real = creation._existing_memo
    calls = []

    def after_the_insert(key):
        calls.append(key)
        return real(key)

    monkeypatch.setattr(creation, "_existing_memo", after_the_insert)
    before = db_state()
    with pytest.raises(ValidationError) as info:
        from_invoice(invoice, idempotency_key="race", actor=admin)
    assert page_error(info) == OTHER_USER
    assert db_state() == before
    assert Memo.objects.get() == first
    assert calls == ["race"]  # once, after the insert met the key
