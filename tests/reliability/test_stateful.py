"""Stateful model test of the memo and billing services (hypothesis RuleBasedStateMachine).

What it proves: whatever sequence of operations operators perform (create from an invoice or from
charges, post, unpost, cancel, apply, unapply, refund, reverse, write off, Transferred to
Accounting, bill runs for one account, posted or canceled, under every generation and
application rule, in USD and JPY, with amounts that are partial, over, negative, with too many
decimals or huge, and dates inside a closed period), after every step:

- the invariants of DOMAIN.md section 3 hold for every memo, invoice, item and application
  (tests/reliability/invariants.py);
- every account balance the product shows (billing.selectors) equals one recomputed from scratch
  from the documents' amounts, applications and refunds (DOMAIN.md 1), and equals the balance a
  simple model of the operations expects;
- an operation a service refuses (ValidationError) changed nothing at all: every memo, item,
  application, refund, history event, invoice, number counter and bill run is as it was.

CI runs at least 2,000 steps (MEMODESK_STATEFUL_STEPS sets any other number); the steps run are
counted and printed at the end of the run ("reliability counts").
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from decimal import ROUND_DOWN, Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from billing import roles
from billing.bill_runs import documents as bill_documents
from billing.bill_runs import runner
from billing.bill_runs import services as bill_runs
from billing.factories import (
    AccountFactory,
    AccountingPeriodFactory,
    ChargeFactory,
    UserFactory,
    currency,
)
from billing.models import (
    ApplicationRule,
    BillingSettings,
    BillRun,
    BillRunScope,
    BillRunStatus,
    ChargeType,
    GenerationRule,
    Invoice,
    InvoiceStatus,
    PeriodStatus,
    TaxMode,
)
from billing.money import ZERO, quantum, round_money
from billing.services import InvoiceLine, create_invoice
from memos.models import (
    Memo,
    MemoApplication,
    MemoStatus,
    MemoType,
    RefundMethod,
    TransferStatus,
)
from memos.services import (
    ChargeLine,
    InvoiceItemLine,
    create_memo_from_charges,
    create_memo_from_invoice,
    lifecycle,
    settlement,
)
from tests.billing.bill_run_helpers import subscribe
from tests.reliability import counts
from tests.reliability.invariants import State, assert_invariants, read_state

TARGET_STEPS = int(os.environ.get("MEMODESK_STATEFUL_STEPS", "2000"))
VERBOSE = bool(os.environ.get("MEMODESK_STATEFUL_VERBOSE"))
# Shrinking a failing sequence replays it hundreds of times (minutes, and more on PostgreSQL):
# off unless asked for, so a failure in CI is reported at once, as the sequence that failed.
SHRINK = bool(os.environ.get("MEMODESK_STATEFUL_SHRINK"))
STEPS_PER_EXAMPLE = 50
# Examples end early at times: about this many steps each, on average.
AVERAGE_STEPS = 40

INVOICE_DATE = dt.date(2026, 1, 5)
SUBSCRIPTIONS_START = dt.date(2026, 1, 1)
# Dates are drawn as days after the invoice date: February is a closed period.
CLOSED_START, CLOSED_END = dt.date(2026, 2, 1), dt.date(2026, 2, 28)
# Mostly a plausible date (January), else anything from before the invoice to March.
# (Hypothesis favours the first branch of one_of and the first values of sampled_from.)
DAYS = st.one_of(st.integers(0, 20), st.integers(-3, 75))
PICK = st.integers(min_value=0, max_value=10_000)
# Mostly an operation picks a document it makes sense for (a draft to post, a posted credit
# memo with credit left to apply); else any document, which the service refuses.
FOCUS = st.sampled_from([True, True, True, False])
# How an amount is typed, relative to what the document holds (see `amount`): mostly a
# plausible part of it, else anything.
PLAUSIBLE = ["full", "half", "third", "tiny", "random"]
AMOUNT_KINDS = [*PLAUSIBLE, "over", "zero", "negative", "decimals", "huge"]
AMOUNTS = st.tuples(st.sampled_from(AMOUNT_KINDS), st.integers(min_value=1, max_value=5_000))
QUANTITIES = st.sampled_from([None, "1", "2.5", None, "3", "0", "-1", "1e-7", "1e30"])
# Run dates: one in the closed period (refused), the others bill one or more months.
RUN_TARGETS = [
    dt.date(2026, 1, 31),
    dt.date(2026, 2, 15),
    dt.date(2026, 3, 15),
    dt.date(2026, 4, 1),
    dt.date(2026, 5, 1),
]


# Exceptions a service raises today where it should refuse with a ValidationError: bugs being
# fixed on other branches (the 500s of tests/reliability/test_fuzz.py's KNOWN_500S). Each is
# treated as a refusal (so it must still change nothing) and counted. Delete an entry once its
# fix is merged; the test then shows whether it still happens.
KNOWN_SERVICE_BUGS: dict[str, tuple[type[Exception], str]] = {}


def amount(base: Decimal, cur, kind: tuple[str, int], focus: bool = False) -> Decimal:
    """A typed amount: the whole `base`, part of it, a bit more, nothing, negative, with one
    decimal too many, wider than the money columns, or any number of minor units. Focused, only
    the plausible ones (whole, part, a minor unit)."""
    name, units = kind
    q = quantum(cur)
    if focus and name not in PLAUSIBLE:
        name = "half"
    match name:
        case "full":
            return base
        case "half":
            return round_money(base / 2, cur)
        case "third":
            return round_money(base / 3, cur)
        case "tiny":
            return q
        case "over":
            return base + q
        case "zero":
            return ZERO
        case "negative":
            return -q * units
        case "decimals":
            return base + q / 10
        case "huge":
            return Decimal("1e20")
    return q * units


def day(offset: int) -> dt.date:
    return INVOICE_DATE + dt.timedelta(days=offset)


def pick(items: list, index: int, focus: bool = False, sensible=None):
    """One of `items` by a drawn index; with `focus`, one for which `sensible(item)` holds
    when there is any."""
    if focus and sensible is not None:
        items = [item for item in items if sensible(item)] or items
    return items[index % len(items)] if items else None


def is_draft(memo: Memo) -> bool:
    return memo.status == MemoStatus.DRAFT


def is_posted(memo: Memo) -> bool:
    return memo.status == MemoStatus.POSTED


def has_credit(memo: Memo) -> bool:
    return is_posted(memo) and memo.unapplied_amount > 0


def is_open(document) -> bool:
    return document.status == "posted" and document.balance > 0


class MemoMachine(RuleBasedStateMachine):
    """Operators doing anything to three accounts' documents (two USD, one JPY)."""

    steps = 0  # rules run (hypothesis's steps), whatever they did
    operations = 0  # operations attempted (a rule with nothing to act on attempts none)
    refused = 0
    known_bugs = 0
    examples = 0
    # Per operation: [done, refused], printed so a run shows what it exercised.
    outcomes: dict[str, list[int]] = {}

    def __init__(self) -> None:
        super().__init__()
        # Each example starts from the test's clean database and leaves it as it found it.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.state: State | None = None  # set once the world is made
        self.world_made = False
        self.expected: dict[int, Decimal] = {}
        type(self).examples += 1

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)
        if VERBOSE:
            sys.__stderr__.write(f"example {self.examples}: {self.steps} steps so far\n")
            sys.__stderr__.flush()

    # --- the world -------------------------------------------------------------------------------
    @initialize()
    def world(self) -> None:
        AccountingPeriodFactory(
            name="February 2026",
            start_date=CLOSED_START,
            end_date=CLOSED_END,
            status=PeriodStatus.CLOSED,
        )
        self.actor = UserFactory(username="stateful-admin", roles=[roles.BILLING_ADMIN])
        self.accounts = [
            AccountFactory(currency=currency("USD")),
            AccountFactory(currency=currency("USD")),
            AccountFactory(currency=currency("JPY")),
        ]
        self.charges = [
            ChargeFactory(charge_type=ChargeType.ONE_TIME, taxable=True),
            ChargeFactory(charge_type=ChargeType.ONE_TIME, taxable=False),
            ChargeFactory(charge_type=ChargeType.RECURRING, taxable=True),
        ]
        for acct in self.accounts:
            scale = Decimal(100) if acct.currency_id == "JPY" else Decimal(1)
            for prices in (["100.00", "-20.00"], ["55.55"]):
                self._invoice(acct, [Decimal(p) * scale for p in prices], post=True)
        usd_a, usd_b, jpy = self.accounts
        # Bill runs: A always owes; B is net negative (a credit memo); C has both signs, so
        # generation rules 3 and 4 couple an invoice and a credit memo.
        subscribe(usd_a, "30.00", start=SUBSCRIPTIONS_START)
        subscribe(usd_b, "20.00", start=SUBSCRIPTIONS_START)
        subscribe(usd_b, "-45.00", start=SUBSCRIPTIONS_START)
        subscribe(jpy, "1000", start=SUBSCRIPTIONS_START)
        subscribe(jpy, "-300", start=SUBSCRIPTIONS_START)
        for acct in self.accounts:  # credit to apply from the start, and a debit memo to take it
            scale = Decimal(100) if acct.currency_id == "JPY" else Decimal(1)
            for memo_type, price in ((MemoType.CREDIT, "80.00"), (MemoType.DEBIT, "25.00")):
                memo = create_memo_from_charges(
                    account=acct,
                    memo_type=memo_type,
                    lines=[ChargeLine(charge=self.charges[1], amount=Decimal(price) * scale)],
                    actor=self.actor,
                    memo_date=INVOICE_DATE,
                )
                lifecycle.post_memo(memo=memo, actor=self.actor)
        self.state = assert_invariants()
        self.expected = dict(self.state.balances)

    def _invoice(self, acct, prices: list[Decimal], *, post: bool) -> Invoice:
        return create_invoice(
            account=acct,
            invoice_date=INVOICE_DATE,
            lines=[
                InvoiceLine(
                    charge=self.charges[index % 2],
                    quantity=Decimal(1),
                    unit_price=price,
                )
                for index, price in enumerate(prices)
            ],
            post=post,
        )

    # --- the step ------------------------------------------------------------------------------
    def attempt(self, operation: str, call, delta=None):
        """Run one operation. Refused: nothing changed. Done: the model's balances move by
        `delta(result)` ({account id: amount}). Either way every invariant holds after it."""
        before = self.state
        type(self).operations += 1
        tally = type(self).outcomes.setdefault(operation, [0, 0])
        known = KNOWN_SERVICE_BUGS.get(operation, (ValidationError, ""))[0]
        try:
            result = call()
        except (ValidationError, known) as exc:
            if not isinstance(exc, ValidationError):
                type(self).known_bugs += 1
            type(self).refused += 1
            tally[1] += 1
            after = read_state()
            assert after.fingerprint() == before.fingerprint(), f"refused {operation} wrote"
            self.state = assert_invariants(after)
            return None
        tally[0] += 1
        self.state = assert_invariants()
        for account_id, change in (delta(result) if delta else {}).items():
            self.expected[account_id] = self.expected.get(account_id, ZERO) + change
        shown = dict(self.state.balances)
        assert shown == {k: self.expected.get(k, ZERO) for k in shown}, (
            f"after {operation}: balances {shown}, the model expects {self.expected}"
        )
        return result

    def memos(self, **filters) -> list[Memo]:
        return list(Memo.objects.filter(**filters).select_related("currency").order_by("pk"))

    # --- creating ------------------------------------------------------------------------------
    @rule(
        acct=PICK,
        first=st.integers(1, 50_000),
        more=st.lists(st.integers(-5_000, 50_000), max_size=2),
        post=st.booleans(),
    )
    def create_invoice(self, acct, first, more, post):
        account = pick(self.accounts, acct)
        q = quantum(account.currency)
        prices = [q * u for u in [first, *more]]

        def delta(invoice):
            return {account.pk: invoice.amount} if post else {}

        self.attempt("create invoice", lambda: self._invoice(account, prices, post=post), delta)

    @rule(
        inv=PICK,
        focus=FOCUS,
        memo_type=st.sampled_from(MemoType.values),
        rows=st.lists(st.tuples(st.booleans(), AMOUNTS, st.booleans()), min_size=1, max_size=4),
        offset=DAYS,
        auto_apply=st.booleans(),
        typed_tax=st.booleans(),
        post_now=st.booleans(),
    )
    def create_from_invoice(
        self, inv, focus, memo_type, rows, offset, auto_apply, typed_tax, post_now
    ):
        invoices = list(Invoice.objects.select_related("currency").order_by("pk"))
        invoice = pick(invoices, inv, focus, lambda i: i.status == InvoiceStatus.POSTED)
        items = list(invoice.items.order_by("sort_order", "id"))
        lines = []
        if focus:  # a date in January, tax-included only with the tax calculated
            offset %= 21
        for item, (selected, kind, inclusive) in zip(items, rows, strict=False):
            # Focused: every item with something to credit (negative items are refused).
            if (selected and not focus) or (focus and item.amount > 0):
                lines.append(
                    InvoiceItemLine(
                        invoice_item=item,
                        amount=amount(item.amount_excl_tax, invoice.currency, kind, focus),
                        tax_mode=TaxMode.INCLUSIVE
                        if inclusive and not (focus and typed_tax)
                        else TaxMode.EXCLUSIVE,
                        tax_amount=item.tax_amount if typed_tax else None,
                    )
                )
        memo = self.attempt(
            "create from invoice",
            lambda: create_memo_from_invoice(
                invoice=invoice,
                memo_type=memo_type,
                lines=lines,
                actor=self.actor,
                memo_date=day(offset),
                tax_auto_calculation=not typed_tax,
                apply_to_invoice_on_post=auto_apply,
            ),
        )
        if memo is not None and post_now:
            self.post_memo(memo)

    @rule(
        acct=PICK,
        memo_type=st.sampled_from(MemoType.values),
        lines=st.lists(
            st.tuples(PICK, AMOUNTS, QUANTITIES),
            min_size=1,
            max_size=3,
        ),
        offset=DAYS,
        post_now=st.booleans(),
        focus=FOCUS,
    )
    def create_from_charges(self, acct, memo_type, lines, offset, post_now, focus):
        account = pick(self.accounts, acct)
        base = Decimal(4000) if account.currency_id == "JPY" else Decimal(40)
        charge_lines = [
            ChargeLine(
                charge=pick(self.charges, charge),
                amount=amount(base, account.currency, kind, focus),
                quantity=Decimal(quantity) if quantity and not focus else None,
            )
            for charge, kind, quantity in lines
        ]
        memo = self.attempt(
            "create from charges",
            lambda: create_memo_from_charges(
                account=account,
                memo_type=memo_type,
                lines=charge_lines,
                actor=self.actor,
                memo_date=day(offset),
            ),
        )
        if memo is not None and post_now:
            self.post_memo(memo)

    # --- the lifecycle -------------------------------------------------------------------------
    @staticmethod
    def _posting_delta(memo: Memo, sign: int) -> dict[int, Decimal]:
        """What posting (sign 1) or unposting (-1) a memo does to its account's balance."""
        change = memo.amount if memo.memo_type == MemoType.DEBIT else -memo.amount
        if sign == 1 and memo.coupled_invoice_id:
            coupled = Invoice.objects.get(pk=memo.coupled_invoice_id)
            if coupled.status == InvoiceStatus.DRAFT:
                change += coupled.amount  # posted with it
        return {memo.account_id: sign * change}

    @rule(memo=PICK, focus=FOCUS)
    def post(self, memo, focus):
        target = pick(self.memos(), memo, focus, is_draft)
        if target is not None:
            self.post_memo(target)

    def post_memo(self, target: Memo) -> None:
        delta = self._posting_delta(target, 1)
        self.attempt(
            "post", lambda: lifecycle.post_memo(memo=target, actor=self.actor), lambda _: delta
        )

    @rule(memo=PICK, focus=FOCUS)
    def unpost(self, memo, focus):
        target = pick(self.memos(), memo, focus, is_posted)
        if target is None:
            return
        delta = self._posting_delta(target, -1)
        self.attempt(
            "unpost", lambda: lifecycle.unpost_memo(memo=target, actor=self.actor), lambda _: delta
        )

    @rule(memo=PICK, focus=FOCUS)
    def cancel(self, memo, focus):
        target = pick(self.memos(), memo, focus, is_draft)
        if target is None:
            return
        self.attempt("cancel", lambda: lifecycle.cancel_memo(memo=target, actor=self.actor))

    @rule(
        memo=PICK,
        focus=FOCUS,
        value=st.sampled_from([*TransferStatus.values, "bogus"]),
        override=st.booleans(),
    )
    def transfer(self, memo, focus, value, override):
        target = pick(self.memos(), memo, focus, is_posted)
        if target is None:
            return
        self.attempt(
            "transfer",
            lambda: lifecycle.set_transferred_to_accounting(
                memo=target, value=value, actor=self.actor, may_override=override
            ),
        )

    # --- settling ------------------------------------------------------------------------------
    @rule(
        credit=PICK,
        focus=FOCUS,
        to=st.lists(
            st.tuples(PICK, FOCUS, st.booleans(), st.booleans(), AMOUNTS), min_size=1, max_size=3
        ),
        offset=st.integers(-2, 15),
        application_rule=st.sampled_from(ApplicationRule.values),
    )
    def apply(self, credit, focus, to, offset, application_rule):
        memo = pick(self.memos(memo_type=MemoType.CREDIT), credit, focus, has_credit)
        if memo is None:
            return
        # The setting that splits a header amount over the target's items (Proration, FIFO).
        billing = BillingSettings.load()
        billing.application_rule = application_rule
        billing.save(update_fields=["application_rule"])
        # Any invoice or debit memo, of any account and status (the service refuses the wrong
        # ones); focused, an open one of the memo's account.
        documents = list(Invoice.objects.order_by("pk")) + self.memos(memo_type=MemoType.DEBIT)
        chosen = []
        for index, own, per_item, other_items, kind in to:
            doc = pick(
                documents, index, own, lambda d: d.account_id == memo.account_id and is_open(d)
            )
            target = {"invoice": doc} if isinstance(doc, Invoice) else {"debit_memo": doc}
            # Focused, amounts are parts of what both sides hold; else parts of the target's.
            credit_left = (
                (memo.unapplied_amount / len(to)).quantize(quantum(memo.currency), ROUND_DOWN)
                if own
                else None
            )
            if per_item:
                items = list(doc.items.order_by("sort_order", "id"))
                if other_items and not own:  # ids of another document's items
                    items = list(pick(documents, index + 1).items.order_by("pk"))
                target["item_amounts"] = {
                    i.pk: amount(
                        min(max(i.balance, ZERO), credit_left or i.balance),
                        memo.currency,
                        kind,
                        own,
                    )
                    for i in items
                }
            else:
                base = min(doc.balance, credit_left) if own else doc.balance
                target["amount"] = amount(base, memo.currency, kind, own)
            chosen.append(settlement.ApplicationTarget(**target))
        self.attempt(
            "apply",
            lambda: settlement.apply_credit_memo(
                credit_memo=memo,
                targets=chosen,
                effective_date=memo.memo_date + dt.timedelta(days=offset),
                actor=self.actor,
            ),
        )

    @rule(
        application=PICK,
        focus=FOCUS,
        kind=AMOUNTS,
        whole=st.booleans(),
        offset=st.integers(-2, 10),
    )
    def unapply(self, application, focus, kind, whole, offset):
        applications = list(
            MemoApplication.objects.filter(kind=MemoApplication.Kind.APPLY)
            .annotate(undone=Coalesce(Sum("unapplications__amount"), ZERO))
            .select_related("credit_memo__currency")
            .order_by("pk")
        )
        app = pick(applications, application, focus, lambda a: a.amount > a.undone)
        if app is None:
            return
        typed = None if whole else amount(app.amount, app.credit_memo.currency, kind)
        self.attempt(
            "unapply",
            lambda: settlement.unapply_credit_memo(
                application=app,
                amount=typed,
                effective_date=app.effective_date + dt.timedelta(days=offset),
                actor=self.actor,
            ),
        )

    @rule(
        credit=PICK,
        focus=FOCUS,
        kind=AMOUNTS,
        method=st.sampled_from([*RefundMethod.values, "bogus"]),
        offset=st.integers(-2, 50),
    )
    def refund(self, credit, focus, kind, method, offset):
        memo = pick(self.memos(memo_type=MemoType.CREDIT), credit, focus, has_credit)
        if memo is None:
            return
        typed = amount(memo.unapplied_amount, memo.currency, kind, focus)
        self.attempt(
            "refund",
            lambda: settlement.refund_credit_memo(
                credit_memo=memo,
                amount=typed,
                method=method,
                refund_date=memo.memo_date + dt.timedelta(days=offset),
                actor=self.actor,
            ),
            lambda refund: {memo.account_id: refund.amount},
        )

    @rule(credit=PICK, focus=FOCUS, reverse=st.booleans())
    def reverse_or_write_off(self, credit, focus, reverse):
        memo = pick(
            self.memos(memo_type=MemoType.CREDIT),
            credit,
            focus,
            lambda m: has_credit(m) and not m.applied_amount and not m.refund_amount,
        )
        if memo is None:
            return
        service = settlement.reverse_credit_memo if reverse else settlement.write_off_credit_memo
        self.attempt(
            "reverse" if reverse else "write off",
            lambda: service(credit_memo=memo, actor=self.actor),
            # The credit it gave is taken back: its unapplied amount (all of it) goes.
            lambda debit: {memo.account_id: debit.amount},
        )

    @invariant()
    def count_step(self) -> None:
        # Hypothesis checks invariants once the world is made, then after every rule: each rule
        # counts as a step, whatever it did.
        if self.world_made:
            type(self).steps += 1
        self.world_made = self.state is not None

    # --- bill runs -----------------------------------------------------------------------------
    @rule(
        acct=PICK,
        run_date=st.sampled_from(RUN_TARGETS),
        then=st.sampled_from(["leave", "post", "cancel"]),
        generation_rule=st.sampled_from(GenerationRule.values),
    )
    def bill_run(self, acct, run_date, then, generation_rule):
        account = pick(self.accounts, acct)
        billing = BillingSettings.load()
        billing.generation_rule = generation_rule
        billing.save(update_fields=["generation_rule"])

        def create_and_bill() -> BillRun:
            run = bill_runs.create_bill_run(
                actor=self.actor,
                invoice_date=run_date,
                target_date=run_date,
                scope=BillRunScope.ACCOUNT,
                account=account,
            )
            runner.plan_chunks(run.pk)
            runner.work(run.pk)
            run.refresh_from_db()
            assert run.status in (BillRunStatus.COMPLETED, BillRunStatus.ERROR), run.status
            return run

        run = self.attempt("bill run", create_and_bill)
        if run is None or then == "leave":
            return
        if then == "post":
            drafts = sum(
                Invoice.objects.filter(bill_run=run, status=InvoiceStatus.DRAFT).values_list(
                    "amount", flat=True
                ),
                ZERO,
            ) - sum(
                Memo.objects.filter(bill_run=run, status=MemoStatus.DRAFT).values_list(
                    "amount", flat=True
                ),
                ZERO,
            )

            @transaction.atomic  # refused: the run is as it was, not half-way
            def post_run():
                bill_runs.request_post(bill_run=run, actor=self.actor)
                posted = bill_documents.post_documents(bill_run=run, actor=self.actor)
                if posted.status != BillRunStatus.POSTED:
                    raise ValidationError(posted.message)  # not posted: nothing may have changed
                return posted

            self.attempt("post bill run", post_run, lambda _: {run.account_id: drafts})
        else:

            @transaction.atomic
            def cancel_run():
                bill_runs.request_cancel(bill_run=run, actor=self.actor)
                return bill_documents.cancel_documents(bill_run=run, actor=self.actor)

            self.attempt("cancel bill run", cancel_run)


@pytest.mark.django_db
def test_any_sequence_of_operations_keeps_the_invariants():
    MemoMachine.steps = MemoMachine.refused = MemoMachine.examples = MemoMachine.known_bugs = 0
    MemoMachine.operations = 0
    MemoMachine.outcomes = {}
    while MemoMachine.steps < TARGET_STEPS:
        left = TARGET_STEPS - MemoMachine.steps
        run_state_machine_as_test(
            MemoMachine,
            settings=settings(
                max_examples=max(1, -(-left // AVERAGE_STEPS)),
                stateful_step_count=STEPS_PER_EXAMPLE,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=[phase for phase in Phase if SHRINK or phase != Phase.shrink],
                print_blob=True,
            ),
        )
    counts.add("stateful steps", MemoMachine.steps)
    counts.add("stateful operations attempted", MemoMachine.operations)
    counts.add("stateful operations refused by a service", MemoMachine.refused)
    counts.add("stateful examples", MemoMachine.examples)
    if MemoMachine.known_bugs:
        counts.note(
            f"stateful: {MemoMachine.known_bugs} steps met a KNOWN_SERVICE_BUGS exception: "
            + "; ".join(note for _, note in KNOWN_SERVICE_BUGS.values())
        )
    print(
        f"stateful: {MemoMachine.steps} steps, {MemoMachine.operations} operations "
        f"({MemoMachine.refused} refused) "
        f"in {MemoMachine.examples} examples; done/refused per operation: "
        + ", ".join(f"{op} {ok}/{no}" for op, (ok, no) in sorted(MemoMachine.outcomes.items()))
    )
    assert MemoMachine.steps >= TARGET_STEPS
