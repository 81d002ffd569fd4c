"""The money invariants of DOMAIN.md section 3 (extended to payments, section 6) and the account
balance of section 1 (unapplied payments included), checked
set-based on a snapshot of every document row (a dozen queries, whatever the number of rows), so
a test can check them after every one of thousands of operations.

`read_state()` reads the snapshot; `check(state)` lists every broken invariant; `fingerprint`
is what a refused operation must leave exactly as it was.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from billing.models import (
    Account,
    BilledPeriod,
    BillRun,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    NumberSeries,
)
from billing.money import MONEY_PLACES
from billing.selectors import accounts_with_balance
from memos.models import (
    Memo,
    MemoApplication,
    MemoApplicationItem,
    MemoEvent,
    MemoItem,
    MemoStatus,
    MemoType,
    Refund,
)
from payments.models import Payment, PaymentApplication, PaymentApplicationItem, PaymentStatus

ZERO = Decimal("0")
STORAGE_PLACES = Decimal(1).scaleb(-MONEY_PLACES)
APPLY = MemoApplication.Kind.APPLY

MEMO_FIELDS = (
    "id",
    "account_id",
    "memo_type",
    "status",
    "amount",
    "amount_excl_tax",
    "tax_amount",
    "applied_amount",
    "refund_amount",
    "unapplied_amount",
    "balance",
    "reversed",
    "transferred_to_accounting",
    "memo_date",
    "comments",
    "reason_code_id",
    "auto_pay",
    "apply_to_invoice_on_post",
    "exclude_from_auto_apply",
    "tax_status",
)
ITEM_FIELDS = (
    "id",
    "memo_id",
    "amount",
    "amount_excl_tax",
    "tax_amount",
    "applied_amount",
    "refund_amount",
    "unapplied_amount",
    "balance",
)
INVOICE_FIELDS = (
    "id",
    "account_id",
    "status",
    "amount",
    "amount_excl_tax",
    "tax_amount",
    "balance",
)
INVOICE_ITEM_FIELDS = ("id", "invoice_id", "amount", "amount_excl_tax", "tax_amount", "balance")
APPLICATION_FIELDS = (
    "id",
    "credit_memo_id",
    "kind",
    "invoice_id",
    "debit_memo_id",
    "undoes_id",
    "amount",
    "effective_date",
)
PAYMENT_FIELDS = ("id", "account_id", "status", "amount", "applied_amount", "unapplied_amount")
PAYMENT_APPLICATION_FIELDS = (
    "id",
    "payment_id",
    "kind",
    "invoice_id",
    "debit_memo_id",
    "undoes_id",
    "amount",
    "effective_date",
)
PAYMENT_APPLICATION_ITEM_FIELDS = (
    "id",
    "application_id",
    "invoice_item_id",
    "debit_memo_item_id",
    "amount",
)
APPLICATION_ITEM_FIELDS = (
    "id",
    "application_id",
    "credit_memo_item_id",
    "invoice_item_id",
    "debit_memo_item_id",
    "amount",
)


@dataclass(frozen=True)
class State:
    """Every row a memo or billing operation writes, as plain values."""

    memos: tuple
    memo_items: tuple
    invoices: tuple
    invoice_items: tuple
    applications: tuple
    application_items: tuple
    refunds: tuple
    events: tuple  # (count, last id)
    numbers: tuple
    bill_runs: tuple
    billed_periods: int
    balances: tuple  # (account id, balance by the product's selector)
    payments: tuple = ()
    payment_applications: tuple = ()
    payment_application_items: tuple = ()
    unapplied_payments: tuple = ()  # (account id, Account.unapplied_payment_amount)

    def fingerprint(self) -> tuple:
        """What a refused operation must leave exactly as it was."""
        return (
            self.memos,
            self.memo_items,
            self.invoices,
            self.invoice_items,
            self.applications,
            self.application_items,
            self.refunds,
            self.events,
            self.numbers,
            self.bill_runs,
            self.billed_periods,
            self.payments,
            self.payment_applications,
            self.payment_application_items,
            self.unapplied_payments,
        )


def _rows(queryset, fields) -> tuple:
    return tuple(queryset.order_by("pk").values_list(*fields))


def read_state() -> State:
    last_event = MemoEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    return State(
        memos=_rows(Memo.objects, MEMO_FIELDS),
        memo_items=_rows(MemoItem.objects, ITEM_FIELDS),
        invoices=_rows(Invoice.objects, INVOICE_FIELDS),
        invoice_items=_rows(InvoiceItem.objects, INVOICE_ITEM_FIELDS),
        applications=_rows(MemoApplication.objects, APPLICATION_FIELDS),
        application_items=_rows(MemoApplicationItem.objects, APPLICATION_ITEM_FIELDS),
        refunds=_rows(Refund.objects, ("id", "credit_memo_id", "amount")),
        events=(MemoEvent.objects.count(), last_event),
        numbers=_rows(NumberSeries.objects, ("key", "last_number")),
        bill_runs=_rows(BillRun.objects, ("id", "status")),
        billed_periods=BilledPeriod.objects.count(),
        # On SQLite the derived balance comes back as a 15-digit float (Django quantizes only
        # plain columns there: -8.88999999999999 for -8.89); compare it at the columns' places.
        balances=tuple(
            (pk, balance.quantize(STORAGE_PLACES))
            for pk, balance in accounts_with_balance().order_by("pk").values_list("pk", "balance")
        ),
        payments=_rows(Payment.objects, PAYMENT_FIELDS),
        payment_applications=_rows(PaymentApplication.objects, PAYMENT_APPLICATION_FIELDS),
        payment_application_items=_rows(
            PaymentApplicationItem.objects, PAYMENT_APPLICATION_ITEM_FIELDS
        ),
        unapplied_payments=_rows(Account.objects, ("id", "unapplied_payment_amount")),
    )


def _as_dicts(rows, fields) -> list[dict]:
    return [dict(zip(fields, row, strict=True)) for row in rows]


def recomputed_balances(state: State) -> dict[int, Decimal]:
    """DOMAIN.md 1 from scratch: posted invoices and debit memos owe their amount less the credit
    applied to them; posted credit memos give their amount less what was applied and refunded.
    Only amounts and application/refund rows are used, never a stored balance."""
    net_to_invoice: dict[int, Decimal] = defaultdict(Decimal)
    net_to_debit: dict[int, Decimal] = defaultdict(Decimal)
    net_from_credit: dict[int, Decimal] = defaultdict(Decimal)
    for app in _as_dicts(state.applications, APPLICATION_FIELDS):
        signed = app["amount"] if app["kind"] == APPLY else -app["amount"]
        net_from_credit[app["credit_memo_id"]] += signed
        if app["invoice_id"]:
            net_to_invoice[app["invoice_id"]] += signed
        else:
            net_to_debit[app["debit_memo_id"]] += signed
    refunded: dict[int, Decimal] = defaultdict(Decimal)
    for _pk, memo_id, amount in state.refunds:
        refunded[memo_id] += amount
    net_from_payment: dict[int, Decimal] = defaultdict(Decimal)
    for app in _as_dicts(state.payment_applications, PAYMENT_APPLICATION_FIELDS):
        signed = app["amount"] if app["kind"] == APPLY else -app["amount"]
        net_from_payment[app["payment_id"]] += signed
        if app["invoice_id"]:
            net_to_invoice[app["invoice_id"]] += signed
        else:
            net_to_debit[app["debit_memo_id"]] += signed
    balances: dict[int, Decimal] = defaultdict(Decimal)
    for payment in _as_dicts(state.payments, PAYMENT_FIELDS):
        if payment["status"] == PaymentStatus.PROCESSED:
            left = payment["amount"] - net_from_payment[payment["id"]]
            balances[payment["account_id"]] -= left
    for inv in _as_dicts(state.invoices, INVOICE_FIELDS):
        if inv["status"] == InvoiceStatus.POSTED:
            balances[inv["account_id"]] += inv["amount"] - net_to_invoice[inv["id"]]
    for memo in _as_dicts(state.memos, MEMO_FIELDS):
        if memo["status"] != MemoStatus.POSTED:
            continue
        if memo["memo_type"] == MemoType.DEBIT:
            balances[memo["account_id"]] += memo["amount"] - net_to_debit[memo["id"]]
        else:
            left = memo["amount"] - net_from_credit[memo["id"]] - refunded[memo["id"]]
            balances[memo["account_id"]] -= left
    return balances


def check(state: State) -> list[str]:  # noqa: C901 (one list of rules, read top to bottom)
    """Every broken invariant of the snapshot, in words (empty when all hold)."""
    problems: list[str] = []

    def expect(condition: bool, message: str) -> None:
        if not condition:
            problems.append(message)

    memos = {m["id"]: m for m in _as_dicts(state.memos, MEMO_FIELDS)}
    invoices = {i["id"]: i for i in _as_dicts(state.invoices, INVOICE_FIELDS)}
    memo_items = _as_dicts(state.memo_items, ITEM_FIELDS)
    invoice_items = _as_dicts(state.invoice_items, INVOICE_ITEM_FIELDS)
    applications = _as_dicts(state.applications, APPLICATION_FIELDS)
    app_items = _as_dicts(state.application_items, APPLICATION_ITEM_FIELDS)
    apps_by_id = {a["id"]: a for a in applications}

    # Net credit moved, per document, per item and per application (applies minus unapplies).
    net_from_credit: dict[int, Decimal] = defaultdict(Decimal)
    net_to: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    undone: dict[int, Decimal] = defaultdict(Decimal)
    for app in applications:
        signed = app["amount"] if app["kind"] == APPLY else -app["amount"]
        net_from_credit[app["credit_memo_id"]] += signed
        target = (
            ("invoice", app["invoice_id"]) if app["invoice_id"] else ("memo", app["debit_memo_id"])
        )
        net_to[target] += signed
        expect(app["amount"] > 0, f"application {app['id']}: amount {app['amount']} <= 0")
        expect(
            bool(app["invoice_id"]) != bool(app["debit_memo_id"]),
            f"application {app['id']}: not exactly one target",
        )
        if app["kind"] != APPLY:
            original = apps_by_id.get(app["undoes_id"])
            expect(original is not None, f"unapplication {app['id']} undoes nothing")
            if original:
                undone[original["id"]] += app["amount"]
                expect(
                    original["kind"] == APPLY
                    and original["credit_memo_id"] == app["credit_memo_id"]
                    and (original["invoice_id"], original["debit_memo_id"])
                    == (app["invoice_id"], app["debit_memo_id"]),
                    f"unapplication {app['id']} does not match the application it undoes",
                )
                expect(
                    app["effective_date"] >= original["effective_date"],
                    f"unapplication {app['id']} is dated before its application",
                )
    problems.extend(_payment_problems(state, net_to))
    for app in applications:
        if app["kind"] == APPLY:
            left = app["amount"] - undone[app["id"]]
            expect(
                ZERO <= left <= app["amount"],
                f"application {app['id']}: {left} of {app['amount']} left applied",
            )
    moved_by_app: dict[int, Decimal] = defaultdict(Decimal)
    net_item: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for move in app_items:
        app = apps_by_id[move["application_id"]]
        signed = move["amount"] if app["kind"] == APPLY else -move["amount"]
        moved_by_app[app["id"]] += move["amount"]
        net_item[("credit_item", move["credit_memo_item_id"])] += signed
        if move["invoice_item_id"]:
            net_item[("invoice_item", move["invoice_item_id"])] += signed
        else:
            net_item[("memo_item", move["debit_memo_item_id"])] += signed
        expect(move["amount"] > 0, f"application item {move['id']}: amount <= 0")
    payment_apps = {
        a["id"]: a for a in _as_dicts(state.payment_applications, PAYMENT_APPLICATION_FIELDS)
    }
    for move in _as_dicts(state.payment_application_items, PAYMENT_APPLICATION_ITEM_FIELDS):
        app = payment_apps[move["application_id"]]
        signed = move["amount"] if app["kind"] == APPLY else -move["amount"]
        if move["invoice_item_id"]:
            net_item[("invoice_item", move["invoice_item_id"])] += signed
        else:
            net_item[("memo_item", move["debit_memo_item_id"])] += signed
    for app in applications:
        expect(
            moved_by_app[app["id"]] == app["amount"],
            f"application {app['id']}: items move {moved_by_app[app['id']]}, "
            f"the application {app['amount']}",
        )

    refunded: dict[int, Decimal] = defaultdict(Decimal)
    for _pk, memo_id, amount in state.refunds:
        refunded[memo_id] += amount
        expect(amount > 0, f"a refund of {memo_id} is {amount}")

    items_of: dict[int, list[dict]] = defaultdict(list)
    for item in memo_items:
        items_of[item["memo_id"]].append(item)
    for memo in memos.values():
        label = f"memo {memo['id']} ({memo['memo_type']}, {memo['status']})"
        amount, applied, refund = memo["amount"], memo["applied_amount"], memo["refund_amount"]
        items = items_of[memo["id"]]
        expect(amount >= 0, f"{label}: amount {amount} < 0")
        expect(
            amount == memo["amount_excl_tax"] + memo["tax_amount"],
            f"{label}: amount is not net + tax",
        )
        for field in ("amount", "amount_excl_tax", "tax_amount"):
            total = sum((i[field] for i in items), ZERO)
            expect(total == memo[field], f"{label}: items' {field} {total} != {memo[field]}")
        if memo["memo_type"] == MemoType.CREDIT:
            expect(applied >= 0 and refund >= 0, f"{label}: applied/refunded < 0")
            expect(applied + refund <= amount, f"{label}: applied + refunded > amount")
            expect(
                memo["unapplied_amount"] == amount - applied - refund,
                f"{label}: unapplied != amount - applied - refunded",
            )
            expect(
                net_from_credit[memo["id"]] == applied,
                f"{label}: applications net {net_from_credit[memo['id']]}, applied {applied}",
            )
            expect(
                refunded[memo["id"]] == refund,
                f"{label}: refunds {refunded[memo['id']]}, refund amount {refund}",
            )
            if memo["status"] != MemoStatus.POSTED:
                expect(applied == 0 and refund == 0, f"{label}: settled but not posted")
            for field in ("applied_amount", "refund_amount", "unapplied_amount"):
                total = sum((i[field] for i in items), ZERO)
                expect(total == memo[field], f"{label}: items' {field} {total} != {memo[field]}")
            for item in items:
                expect(
                    item["applied_amount"] >= 0 and item["refund_amount"] >= 0,
                    f"{label}: item {item['id']} applied/refunded < 0",
                )
                expect(
                    item["unapplied_amount"]
                    == item["amount"] - item["applied_amount"] - item["refund_amount"],
                    f"{label}: item {item['id']} unapplied is not amount - applied - refunded",
                )
                expect(
                    net_item[("credit_item", item["id"])] == item["applied_amount"],
                    f"{label}: item {item['id']} moves != its applied amount",
                )
        else:
            balance = memo["balance"]
            expect(0 <= balance <= amount, f"{label}: balance {balance} not in [0, {amount}]")
            expect(applied == 0 and refund == 0, f"{label}: a debit memo applied/refunded")
            expect(not memo["reversed"], f"{label}: a debit memo reversed")
            total = sum((i["balance"] for i in items), ZERO)
            expect(total == balance, f"{label}: items' balance {total} != {balance}")
            if memo["status"] == MemoStatus.POSTED:
                expect(
                    balance == amount - net_to[("memo", memo["id"])],
                    f"{label}: balance {balance} != amount - credit and payments applied",
                )
                for item in items:
                    expect(
                        item["balance"] == item["amount"] - net_item[("memo_item", item["id"])],
                        f"{label}: item {item['id']} balance != amount - moves",
                    )
            else:
                expect(net_to[("memo", memo["id"])] == 0, f"{label}: credit applied, not posted")

    inv_items_of: dict[int, list[dict]] = defaultdict(list)
    for item in invoice_items:
        inv_items_of[item["invoice_id"]].append(item)
    for inv in invoices.values():
        label = f"invoice {inv['id']} ({inv['status']})"
        items = inv_items_of[inv["id"]]
        expect(inv["balance"] >= 0, f"{label}: balance {inv['balance']} < 0")
        expect(inv["balance"] <= inv["amount"], f"{label}: balance > amount")
        for field in ("amount", "amount_excl_tax", "tax_amount", "balance"):
            total = sum((i[field] for i in items), ZERO)
            expect(total == inv[field], f"{label}: items' {field} {total} != {inv[field]}")
        if inv["status"] == InvoiceStatus.POSTED:
            expect(
                inv["balance"] == inv["amount"] - net_to[("invoice", inv["id"])],
                f"{label}: balance != amount - credit applied",
            )
            for item in items:
                expect(
                    item["balance"] == item["amount"] - net_item[("invoice_item", item["id"])],
                    f"{label}: item {item['id']} balance != amount - moves",
                )
        else:
            expect(inv["balance"] == 0, f"{label}: a balance while not posted")
            expect(net_to[("invoice", inv["id"])] == 0, f"{label}: credit applied, not posted")

    expected = recomputed_balances(state)
    for account_id, balance in state.balances:
        expect(
            balance == expected.get(account_id, ZERO),
            f"account {account_id}: balance {balance}, from its documents "
            f"{expected.get(account_id, ZERO)}",
        )
    return problems


def _payment_problems(state: State, net_to: dict) -> list[str]:
    """DOMAIN.md 6: 0 <= applied <= amount, unapplied = amount - applied, applied = its
    applications net, only processed payments applied, each application's items add up to it,
    unapplications match what they undo; the payments' applications go into `net_to` (the
    documents' balances are checked with the credit); the account's unapplied payments column
    is its processed payments' unapplied amounts."""
    problems: list[str] = []
    apps = _as_dicts(state.payment_applications, PAYMENT_APPLICATION_FIELDS)
    by_id = {a["id"]: a for a in apps}
    net: dict[int, Decimal] = defaultdict(Decimal)
    undone: dict[int, Decimal] = defaultdict(Decimal)
    for app in apps:
        signed = app["amount"] if app["kind"] == APPLY else -app["amount"]
        net[app["payment_id"]] += signed
        target = (
            ("invoice", app["invoice_id"]) if app["invoice_id"] else ("memo", app["debit_memo_id"])
        )
        net_to[target] += signed
        if app["amount"] <= 0:
            problems.append(f"payment application {app['id']}: amount <= 0")
        if app["kind"] != APPLY:
            original = by_id.get(app["undoes_id"])
            if original is None or original["payment_id"] != app["payment_id"]:
                problems.append(f"payment unapplication {app['id']} undoes nothing of its payment")
            else:
                undone[original["id"]] += app["amount"]
    for app in apps:
        if app["kind"] == APPLY and not ZERO <= app["amount"] - undone[app["id"]] <= app["amount"]:
            problems.append(f"payment application {app['id']}: unapplied more than applied")
    moved: dict[int, Decimal] = defaultdict(Decimal)
    for move in _as_dicts(state.payment_application_items, PAYMENT_APPLICATION_ITEM_FIELDS):
        moved[move["application_id"]] += move["amount"]
        if move["amount"] <= 0:
            problems.append(f"payment application item {move['id']}: amount <= 0")
    for app in apps:
        if moved[app["id"]] != app["amount"]:
            problems.append(f"payment application {app['id']}: items move {moved[app['id']]}")
    unapplied: dict[int, Decimal] = defaultdict(Decimal)
    for payment in _as_dicts(state.payments, PAYMENT_FIELDS):
        label = f"payment {payment['id']} ({payment['status']})"
        amount, applied = payment["amount"], payment["applied_amount"]
        if not (amount > 0 and ZERO <= applied <= amount):
            problems.append(f"{label}: applied {applied} outside 0..{amount}")
        if payment["unapplied_amount"] != amount - applied:
            problems.append(f"{label}: unapplied != amount - applied")
        if net[payment["id"]] != applied:
            problems.append(f"{label}: applications net {net[payment['id']]}, applied {applied}")
        if payment["status"] == PaymentStatus.PROCESSED:
            unapplied[payment["account_id"]] += amount - applied
        elif applied:
            problems.append(f"{label}: applied but not processed")
    for account_id, column in state.unapplied_payments:
        if column != unapplied.get(account_id, ZERO):
            problems.append(
                f"account {account_id}: unapplied payments {column}, "
                f"from its payments {unapplied.get(account_id, ZERO)}"
            )
    return problems


def assert_invariants(state: State | None = None) -> State:
    """Read (unless given) and check the snapshot; fail listing every broken invariant."""
    state = state or read_state()
    problems = check(state)
    assert not problems, "invariants broken:\n" + "\n".join(problems[:30])
    return state
