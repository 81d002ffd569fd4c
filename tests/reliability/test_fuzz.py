"""Fuzz of every form and htmx endpoint, driven from the URLconf.

What it proves: for every URL of the project (the same walk as tests/test_url_permissions.py, so
a new endpoint is fuzzed without being listed here), whatever a user sends (malformed and huge
numbers, NaN and Infinity, unicode digits, too many decimals, negatives, NUL bytes, 1 MB of text,
HTML and script, dates that do not exist, ids of another account's, currency's or invoice's
documents, too many fields, in the path, the query string or the form):

- the answer is never a server error (500);
- a refusal (a 4xx, an error message, a form re-rendered with errors), a GET and an htmx preview
  change nothing: the memo, item, application, refund, history, invoice, number and bill-run
  tables are as they were;
- typed HTML never comes back unescaped, and no redirect leaves the site.

The fields come from the pages themselves: every page is rendered (as a superuser, who may do
everything) and crawled, and each form, htmx form (with its hx-vals, e.g. the live previews) and
hx-get element is sent once per field and input class, the other fields keeping the values the
page gave them. Each request runs in a savepoint that is rolled back, so every input meets the
same documents.

Server errors other engineers are fixing are listed in KNOWN_500S (URL name, input class, note):
a URL whose only failures are known ones is reported as xfailed, with each one. Delete the
entries once their fixes are merged: the test then shows what still fails.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from urllib.parse import urlencode, urlsplit

import pytest
from django.contrib.messages import constants as levels
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.test import Client
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from billing.factories import UserFactory
from billing.listing import FilteredListView
from billing.models import BillRun, Charge, Invoice, NumberSeries
from memos.models import Memo, MemoApplication, MemoEvent, MemoItem, ReasonCode, Refund
from tests.reliability import counts
from tests.reliability.html_forms import Form, parse
from tests.reliability.world import build_world, url_objects
from tests.test_url_permissions import KWARGS, PUBLIC_URL_NAMES, all_patterns, view_class

# --- server errors being fixed elsewhere ---------------------------------------------------------
# (URL name, input class, note); both may be fnmatch patterns ("next *": any value in `next`). A
# note starting "PostgreSQL:" or "SQLite:" names the only database it happens on. An entry may
# also cover an off-site redirect, which is not a 500 but is as wrong.
KNOWN_500S: list[tuple[str, str, str]] = []

# --- inputs --------------------------------------------------------------------------------------
MB_TEXT = "x" * (1 << 20)
SCRIPT = '<script>alert("memodesk-xss")</script>'
INPUT_CLASSES: dict[str, list[str]] = {
    "malformed number": ["1,2.3", "12abc", "--5", "0x1F", "1_000", "1e", "."],
    "huge number": ["1e30", "999999999999999", "9" * 40, "1E+999999999", "-1e30"],
    "NaN and Infinity": ["NaN", "Infinity", "-Infinity", "sNaN"],
    "unicode digits": ["١٢٣٫٤٥", "１２３．４５", "߁߂", "²³", "½"],
    "too many decimals": ["1.234567", "0.0000001", "10.005"],
    "negative": ["-1", "-0.01", "-999999999999"],
    "NUL byte": ["1\x00", "\x00", "A\x00B"],
    "1 MB text": [MB_TEXT],
    "HTML and script": [SCRIPT, '"><svg onload=alert(1)>'],
    "empty": [""],
    "date junk": ["2026-02-30", "99999-12-31", "0000-00-00", "2026-13-01", "0001-01-01"],
}
# Where a redirect parameter could send a user: never off the site.
EXTERNAL_URLS = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example",
    "javascript:alert(1)",
]
# Field names whose values are numbers (every value of the number classes is sent to them).
NUMERIC_FIELD = re.compile(r"amount|quantity|tax|price|day|_min|_max|after|before")
# The request-wide classes, sent once per request template.
TOO_MANY_FIELDS = 1001
PATH_VALUES = {
    "NUL byte": "CM\x00",
    "1 MB text": "A" * 5000,  # a path this long is already refused by most servers
    "unicode digits": "CM١٢٣",
    "HTML and script": "<b>x</b>",
    "huge number": "9" * 40,
}
SAFE_METHODS = {"get", "head"}
# Fields whose inputs are classed apart ("next NUL byte"): what they break is their own.
OWN_CLASS_FIELDS = {"next", "idempotency_key"}


@dataclass
class Template:
    """One request a page lets a user send: where, how, with what."""

    name: str
    method: str
    path: str  # with the query string a GET form's page had
    data: list[tuple[str, str]]
    htmx: bool = False
    headers: dict = field(default_factory=dict)
    selects: dict = field(default_factory=dict)  # field name -> offered option values
    kinds: dict = field(default_factory=dict)  # field name -> input type
    alternate: dict | None = None  # htmx headers every other input is sent with instead
    alternate_extra: list = field(default_factory=list)  # and fields added then (preview=1)

    def key(self) -> tuple:
        fields = tuple(sorted({name for name, _ in self.data}))
        return (self.method, self.htmx, tuple(sorted(self.headers.items())), fields)


@dataclass
class Outcome:
    name: str
    input_class: str
    detail: str
    error: str


# --- the walk ------------------------------------------------------------------------------------
def url_names() -> list[str]:
    return sorted({name for name, _route, _pattern in all_patterns() if name})


def patterns_by_name() -> dict:
    return {name: pattern for name, _route, pattern in all_patterns()}


def url_for(world: dict, name: str, **override) -> str:
    kwargs = KWARGS[name](url_objects(world, name)) if name in KWARGS else {}
    return reverse(name, kwargs={**kwargs, **override})


def name_of(path: str) -> str | None:
    try:
        match = resolve(urlsplit(path).path)
    except Resolver404:
        return None
    if match.namespace == "admin" or match.namespace.startswith("admin"):
        return None
    return match.view_name


# --- discovery -----------------------------------------------------------------------------------
PAGES_PER_NAME = 4


def discover(world: dict, superuser) -> dict[str, list[Template]]:
    """Crawl the site from every URL (and the other memos' pages) and collect what its pages
    let a user send, per URL name."""
    client = Client()
    client.force_login(superuser)
    anonymous = Client()
    start = []
    for name in url_names():
        try:
            start.append(url_for(world, name))
        except (KeyError, NoReverseMatch):
            continue
    for key in ("draft", "debit", "canceled", "other_memo"):
        start.append(world[key].get_absolute_url())
        start.append(reverse("memos:memo_edit", args=[world[key].number]))
    queue, seen, pages = list(start), set(), Counter()
    found: dict[str, dict[tuple, Template]] = {}
    while queue:
        url = queue.pop(0)
        if url in seen or not url.startswith("/"):
            continue
        seen.add(url)
        name = name_of(url)
        if name is None or pages[name] >= PAGES_PER_NAME or name == "logout":
            continue
        pages[name] += 1
        response = (anonymous if name in PUBLIC_URL_NAMES else client).get(url)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        page = parse(response.content.decode())
        for form in page.forms:
            for template in templates_of(form, url):
                found.setdefault(template.name, {}).setdefault(template.key(), template)
        for hx in page.hx:
            hx_name = name_of(hx.url)
            if hx_name is None:
                continue
            split = urlsplit(hx.url)
            data = [(k, v) for k, v in _query_pairs(split.query)]
            headers = {"HX-Request": "true"}
            if hx.name:
                data.append((hx.name, hx.value))
                headers["HX-Trigger-Name"] = hx.name
            if hx.target:
                headers["HX-Target"] = hx.target.lstrip("#")
            template = Template(hx_name, hx.method, split.path, data, True, headers)
            found.setdefault(hx_name, {}).setdefault(template.key(), template)
            queue.append(hx.url)
        queue.extend(link for link in page.links if link.startswith("/"))
    return {name: best_templates(by_key.values()) for name, by_key in found.items()}


def best_templates(templates) -> list[Template]:
    """Per method and htmx or not, the template with the most fields (the same form shows on
    many pages: a memo's transfer control on every row of the list)."""
    best: dict[tuple, Template] = {}
    for template in templates:
        kind = (template.method, template.htmx)
        size = len(template.data) + len(template.kinds)
        if kind not in best or size > len(best[kind].data) + len(best[kind].kinds):
            best[kind] = template
    return list(best.values())


def _query_pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


def templates_of(form: Form, page_url: str) -> list[Template]:
    action = form.action if form.action else page_url
    if not action.startswith("/"):
        return []
    name = name_of(action)
    if name is None:
        return []
    data = form.data()
    selects = {f.name: f.options for f in form.fields if f.kind == "select"}
    kinds = {f.name: f.kind for f in form.fields}
    templates = []
    split = urlsplit(action)
    path = split.path + (f"?{split.query}" if split.query and form.method == "post" else "")
    if form.method == "get":
        data = _query_pairs(split.query) + data
    templates.append(Template(name, form.method, path, data, False, {}, selects, kinds))
    if form.hx_method:
        hx_split = urlsplit(form.hx_url or action)
        hx_name = name_of(hx_split.path) or name
        hx_path = hx_split.path + (
            f"?{hx_split.query}" if hx_split.query and form.hx_method == "post" else ""
        )
        hx_data = data + [(k, str(v)) for k, v in form.hx_vals.items()]
        headers = {"HX-Request": "true"}
        if form.hx_target:
            headers["HX-Target"] = form.hx_target.lstrip("#")
        templates.append(
            Template(hx_name, form.hx_method, hx_path, hx_data, True, headers, selects, kinds)
        )
    return templates


def merged(templates: list[Template]) -> list[Template]:
    """A page and its htmx twin run the same code: a list's filters sent by the page (GET) or by
    htmx (the results partial), a create form posted or previewed live (htmx, preview=1). Each
    input goes one way or the other (alternating), not both."""
    for hx in [t for t in templates if t.htmx]:
        preview = ("preview", "1") in hx.data
        if hx.method not in SAFE_METHODS and not preview:
            continue  # an htmx action (a transfer in place) is its own endpoint branch
        twin = next(
            (
                t
                for t in templates
                if not t.htmx
                and t.method == hx.method
                and urlsplit(t.path).path == urlsplit(hx.path).path
                and (preview or t.key()[3] == hx.key()[3])
            ),
            None,
        )
        if twin is not None:
            twin.alternate = hx.headers
            twin.alternate_extra = [("preview", "1")] if preview else []
            templates = [t for t in templates if t is not hx]
    return templates


def default_templates(world: dict, name: str) -> list[Template]:
    """What to send to a URL no page offers a form for: a GET and an empty POST."""
    view = view_class(patterns_by_name()[name])
    path = url_for(world, name)
    methods = [m for m in ("get", "post") if hasattr(view, m)]
    return [Template(name, m, path, []) for m in methods]


# --- mutations -----------------------------------------------------------------------------------
@dataclass
class Mutation:
    input_class: str
    detail: str
    path: str
    data: list[tuple[str, str]]


def foreign_values(world: dict, field_name: str, template: Template) -> list[str]:
    """Values that name something the form does not offer: another account's documents, another
    currency's, other reason codes and charges, numbers that name nothing."""
    offered = set(template.selects.get(field_name, []))
    values: list[str] = []
    lowered = field_name.lower()
    if "reason" in lowered:
        values += [str(pk) for pk in ReasonCode.objects.values_list("pk", flat=True)]
    if "charge" in lowered:
        values += [str(world["discount_charge"].pk), str(world["inactive_charge"].pk)]
        values += [str(Charge.objects.order_by("-pk").values_list("pk", flat=True).first() + 99)]
    if lowered in ("account", "account_number") or lowered.endswith("account"):
        values += [world["yen_account"].number, world["other_account"].number, "A99999999"]
    if lowered == "number":
        values += [world["other_memo"].number, world["yen_memo"].number, "CM99999999"]
    if lowered in ("bill_run", "invoice"):
        values += [world["yen_invoice"].number, "BR-99999999", "1"]
    if template.selects.get(field_name) is not None:
        values += ["99999999999", "-1", "bogus"]
    return [v for v in dict.fromkeys(values) if v not in offered][:6]


PK_IN_NAME = re.compile(r"(?<=-)(\d+)(?=-|$)")


def renamed_fields(world: dict, name: str) -> list[str]:
    """A field name with another document's id in it (item-<id>-amount, invoice-<id>-amount)."""
    other_items = [str(i.pk) for i in world["other_invoice"].items.all()]
    foreign = [
        *other_items,
        str(world["yen_invoice"].pk),
        str(world["other_invoice"].pk),
        str(world["debit"].pk),
        "99999999999999999999",
    ]
    if not PK_IN_NAME.search(name):
        return []
    return [PK_IN_NAME.sub(pk, name, count=1) for pk in foreign[:4]]


NUMBER_CLASSES = {
    "malformed number",
    "huge number",
    "NaN and Infinity",
    "unicode digits",
    "too many decimals",
    "negative",
}


def values_for(input_class: str, index: int, numeric: bool) -> list[str]:
    """One value of the class (rotating over the fields), two for a number field and a number
    class."""
    values = INPUT_CLASSES[input_class]
    wanted = 2 if numeric and input_class in NUMBER_CLASSES else 1
    return [values[(index + i) % len(values)] for i in range(min(wanted, len(values)))]


def mutations(world: dict, template: Template) -> list[Mutation]:
    """Every field with every input class, foreign ids and renamed fields; an htmx preview gets
    its number fields only (the others are the plain form's). Then the request-wide ones: too
    many fields, a huge extra field, malformed and foreign path values."""
    out: list[Mutation] = []
    # What the form sends, and the fields it could send (unticked boxes).
    names = [n for n, _ in template.data] + list(template.kinds)
    names = list(dict.fromkeys(n for n in names if n != "csrfmiddlewaretoken"))
    if template.method in SAFE_METHODS:
        view = view_class(patterns_by_name()[template.name])
        if view is not None and issubclass(view, FilteredListView):
            names += [n for n in ("sort", "after", "before") if n not in names]
    preview = ("preview", "1") in template.data
    for index, field_name in enumerate(names):
        numeric = bool(NUMERIC_FIELD.search(field_name)) or template.kinds.get(field_name) in (
            "number",
            "date",
        )
        if preview and not numeric:
            continue
        for input_class in INPUT_CLASSES:
            for value in values_for(input_class, index, numeric):
                out.append(
                    Mutation(
                        # Where a redirect goes, and the idempotency key, are inputs of their own.
                        f"{field_name} {input_class}"
                        if field_name in OWN_CLASS_FIELDS
                        else input_class,
                        f"{field_name}={value[:30]!r}",
                        template.path,
                        replaced(template.data, field_name, value),
                    )
                )
        if field_name == "next":
            for value in EXTERNAL_URLS:
                data = replaced(template.data, field_name, value)
                out.append(Mutation("next external URL", f"next={value!r}", template.path, data))
        for value in foreign_values(world, field_name, template):
            out.append(
                Mutation(
                    "foreign id",
                    f"{field_name}={value!r}",
                    template.path,
                    replaced(template.data, field_name, value),
                )
            )
        for renamed in renamed_fields(world, field_name):
            data = [(renamed if n == field_name else n, v) for n, v in template.data]
            out.append(Mutation("foreign id", f"{field_name} -> {renamed}", template.path, data))
    many = template.data + [(f"f{i}", "1") for i in range(TOO_MANY_FIELDS)]
    out.append(Mutation("too many fields", f"{TOO_MANY_FIELDS} extra", template.path, many))
    huge = [*template.data, ("zz", MB_TEXT)]
    out.append(Mutation("1 MB text", "an extra 1 MB field", template.path, huge))
    if not template.htmx:
        out.extend(path_mutations(world, template))
    return out


def path_mutations(world: dict, template: Template) -> list[Mutation]:
    """The URL's own values (a memo number, an application id) malformed or foreign."""
    pattern = patterns_by_name()[template.name]
    converters = pattern.pattern.converters
    if not converters:
        return []
    query = urlsplit(template.path).query
    out = []
    variants: list[tuple[str, str, dict]] = []
    for kwarg, converter in converters.items():
        if type(converter).__name__ == "IntConverter":
            variants.append(("huge number", f"{kwarg}=10**20", {kwarg: 10**20}))
            variants.append(
                ("foreign id", f"{kwarg}=another memo's", {kwarg: world["other_application"].pk})
            )
            continue
        for input_class, value in PATH_VALUES.items():
            variants.append((input_class, f"{kwarg}={value[:20]!r}", {kwarg: value}))
        foreign = {
            "memos": world["other_memo"].number,
            "invoices": world["yen_invoice"].number,
        }
        for prefix, value in foreign.items():
            if template.path.startswith(f"/{prefix}/"):
                variants.append(("foreign id", f"{kwarg}={value}", {kwarg: value}))
    for input_class, detail, override in variants:
        try:
            path = url_for(world, template.name, **override)
        except NoReverseMatch:
            continue
        out.append(
            Mutation(
                f"path {input_class}",
                f"path {detail}",
                f"{path}?{query}" if query else path,
                template.data,
            )
        )
    return out


def replaced(data: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    if any(n == name for n, _ in data):
        return [(n, value if n == name else v) for n, v in data]
    return [*data, (name, value)]


# --- checking one request ------------------------------------------------------------------------
def _table_query() -> str:
    """One statement: counts (and a few sums, so updates show too) of the tables a memo
    operation writes."""
    t = {m.__name__: m._meta.db_table for m in (Memo, MemoItem, Invoice, MemoApplication, Refund,
                                                MemoEvent, NumberSeries, BillRun)}  # fmt: skip
    parts = [
        f"(SELECT COUNT(*) FROM {t['Memo']})",
        f"(SELECT SUM(applied_amount) + 3 * SUM(refund_amount) + 7 * SUM(balance) "
        f"FROM {t['Memo']})",
        f"(SELECT MAX(updated_at) FROM {t['Memo']})",
        f"(SELECT COUNT(*) FROM {t['Memo']} WHERE status = 'posted')",
        f"(SELECT COUNT(*) FROM {t['Memo']} WHERE transferred_to_accounting = 'no')",
        f"(SELECT COUNT(*) FROM {t['MemoItem']})",
        f"(SELECT COUNT(*) FROM {t['Invoice']})",
        f"(SELECT SUM(balance) FROM {t['Invoice']})",
        f"(SELECT COUNT(*) FROM {t['Invoice']} WHERE status = 'posted')",
        f"(SELECT COUNT(*) FROM {t['MemoApplication']})",
        f"(SELECT COUNT(*) FROM {t['Refund']})",
        f"(SELECT COUNT(*) FROM {t['MemoEvent']})",
        f"(SELECT SUM(last_number) FROM {t['NumberSeries']})",
        f"(SELECT COUNT(*) FROM {t['BillRun']})",
        f"(SELECT COUNT(*) FROM {t['BillRun']} WHERE status IN ('completed', 'pending'))",
    ]
    return "SELECT " + ", ".join(parts)


TABLES_SQL = None


def tables() -> tuple:
    global TABLES_SQL
    TABLES_SQL = TABLES_SQL or _table_query()
    with connection.cursor() as cursor:
        cursor.execute(TABLES_SQL)
        return tuple(cursor.fetchone())


ERROR_MARKERS = (b"is-invalid", b"alert-danger", b"errorlist", b"invalid-feedback", b'role="alert"')


def refused(response) -> bool:
    if response.status_code >= 400:
        return True
    queued = list(get_messages(response.wsgi_request))
    if any(m.level >= levels.ERROR for m in queued):
        return True
    if any(m.level == levels.SUCCESS for m in queued):
        return False
    return response.status_code == 200 and any(m in response.content for m in ERROR_MARKERS)


def send(client: Client, template: Template, mutation: Mutation):
    method = template.method
    if method in SAFE_METHODS:
        data = mutation.data
        path = mutation.path
        query = urlencode(data)
        if query:
            path += ("&" if "?" in path else "?") + query
        return client.get(path, headers=template.headers)
    return client.post(mutation.path, data=_as_dict(mutation.data), headers=template.headers)


def _as_dict(pairs):
    """Repeated names (the bulk transfer's numbers, the charge rows' keys) stay lists."""
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def check(client: Client, template: Template, mutation: Mutation) -> str:
    """Send one input in a savepoint that is rolled back; return what went wrong ('' if all
    right)."""
    cookies = client.cookies.copy()
    try:
        with transaction.atomic():
            before = tables()
            response = send(client, template, mutation)
            if response.status_code >= 500:
                exc = getattr(response, "exc_info", None)
                reason = f"{exc[0].__name__}: {str(exc[1])[:120]}" if exc else ""
                transaction.set_rollback(True)
                return f"{response.status_code} {reason}".strip()
            problem = ""
            safe = template.method in SAFE_METHODS or any(n == "preview" for n, _ in mutation.data)
            if (safe or refused(response)) and tables() != before:
                problem = f"{response.status_code}, but the database changed"
            location = response.get("Location") or response.get("HX-Redirect") or ""
            if location and (
                urlsplit(location).netloc not in ("", "testserver")
                or location.startswith(("//", "/\\", "javascript:"))
            ):
                problem = problem or f"redirects off the site to {location[:60]}"
            content_type = response.get("Content-Type", "")
            if "html" in content_type and SCRIPT.encode() in getattr(response, "content", b""):
                problem = problem or "typed HTML came back unescaped"
            transaction.set_rollback(True)
            return problem
    finally:
        client.cookies = cookies


def known(name: str, input_class: str) -> str | None:
    vendor = connection.vendor
    for known_name, known_class, note in KNOWN_500S:
        if fnmatch(name, known_name) and fnmatch(input_class, known_class):
            if note.startswith("PostgreSQL:") and vendor != "postgresql":
                continue
            if note.startswith("SQLite:") and vendor != "sqlite":
                continue
            return note
    return None


# --- the tests -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_site(django_db_setup, django_db_blocker):
    """The documents and what the pages offer, made once for the module in a transaction that is
    rolled back at its end (each test's own transaction is a savepoint inside it)."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            world = build_world()
            superuser = UserFactory(username="fuzz-admin", is_staff=True, is_superuser=True)
            yield world, superuser, discover(world, superuser)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.mark.django_db
def test_the_crawl_finds_the_forms(fuzz_site):
    _world, _superuser, found = fuzz_site
    # The forms and htmx endpoints the pages are known to have: if the crawl stops finding them,
    # the fuzz below silently loses its fields.
    expected = {
        "memos:memo_create",
        "memos:memo_create_from_invoice",
        "memos:memo_apply",
        "memos:memo_refund",
        "memos:memo_unapply",
        "memos:memo_transfer",
        "memos:memo_edit",
        "memos:memo_list",
        "memos:memo_bulk_transfer",
        "billing:bill_run_new",
        "billing:invoice_list",
        "login",
    }
    assert expected <= set(found), expected - set(found)
    create = found["memos:memo_create_from_invoice"]
    assert any(t.htmx and ("preview", "1") in t.data for t in create), "no live preview"


@pytest.mark.django_db
@pytest.mark.parametrize("name", url_names())
def test_fuzz(name, fuzz_site, caplog):
    # Every refused input logs a warning (and every 500 a traceback): keep the report readable.
    caplog.set_level(logging.CRITICAL, logger="django")
    world, superuser, found = fuzz_site
    client = Client(raise_request_exception=False)
    if name not in PUBLIC_URL_NAMES:
        client.force_login(superuser)
    templates = merged(found.get(name) or default_templates(world, name))
    failures: list[Outcome] = []
    tried = 0
    for template in templates:
        for index, mutation in enumerate(mutations(world, template)):
            tried += 1
            sent = template
            if template.alternate is not None and index % 2:
                sent = replace(template, htmx=True, headers=template.alternate)
                mutation = replace(mutation, data=mutation.data + template.alternate_extra)
            problem = check(client, sent, mutation)
            if problem:
                where = f"{sent.method.upper()}{' htmx' if sent.htmx else ''}"
                failures.append(
                    Outcome(name, mutation.input_class, f"{where} {mutation.detail}", problem)
                )
    counts.add("fuzz inputs", tried)
    server_errors = [f for f in failures if f.error.startswith("5")]
    counts.add("fuzz 500s", len(server_errors))
    unknown = [f for f in failures if not known(name, f.input_class)]
    lines = [f"{f.input_class}: {f.detail} -> {f.error}" for f in failures]
    if unknown:
        pytest.fail(
            f"{name}: {len(unknown)} of {tried} inputs failed (not in KNOWN_500S):\n"
            + "\n".join(f"{f.input_class}: {f.detail} -> {f.error}" for f in unknown[:40])
        )
    if failures:
        classes = sorted({f.input_class for f in failures})
        counts.note(f"fuzz {name}: known 500s for {', '.join(classes)} ({len(failures)} inputs)")
        pytest.xfail(f"{name}: known 500s (KNOWN_500S):\n" + "\n".join(lines[:20]))
