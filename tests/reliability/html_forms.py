"""What a rendered page lets a user send: its forms (fields with their default values, select
options) and its htmx requests (hx-get / hx-post on forms and other elements), read with the
standard library's HTML parser. The fuzz test sends these with malformed values."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

FIELD_TAGS = {"input", "select", "textarea", "button"}
SKIPPED_INPUT_TYPES = {"file", "image", "reset"}
# Empty fields of a posting form that a user fills in with an amount (not the typed tax).
FILLED_IN = re.compile(r"(?<!tax_)amount$")


@dataclass
class Field:
    name: str
    value: str
    kind: str  # input type, "select", "textarea", "submit"
    options: list[str] = field(default_factory=list)
    attrs: dict = field(default_factory=dict)
    checked: bool = True  # checkboxes/radios: sent only when checked


@dataclass
class Form:
    action: str | None
    method: str
    fields: list[Field] = field(default_factory=list)
    hx_method: str | None = None  # "get"/"post" when the form also sends itself with htmx
    hx_url: str | None = None
    hx_vals: dict = field(default_factory=dict)
    hx_target: str | None = None
    form_id: str | None = None

    def data(self) -> list[tuple[str, str]]:
        """What submitting it sends: checked boxes, the first named submit button. A form that
        posts is filled in as a user would: a choice in each select that offers one, and an
        amount where none is typed yet."""
        pairs, submitted = [], False
        for f in self.fields:
            value = f.value
            if self.method == "post" and not value:
                if f.kind == "select":
                    value = next((o for o in f.options if o), "")
                elif FILLED_IN.search(f.name) and f.kind in ("text", "number"):
                    value = "1.00"
            if f.kind in ("checkbox", "radio") and not f.checked:
                continue
            if f.kind == "submit":
                if submitted:
                    continue
                submitted = True
            pairs.append((f.name, value))
        return pairs


@dataclass
class HxRequest:
    """An element outside a form that sends an htmx request (a search box, an "add" button)."""

    method: str
    url: str
    name: str | None
    value: str
    target: str | None


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.by_id: dict[str, Form] = {}
        self.orphans: list[tuple[str, Field]] = []  # fields with form="id" outside it
        self.links: list[str] = []
        self.hx: list[HxRequest] = []
        self._form: Form | None = None
        self._select: Field | None = None
        self._option_value: str | None = None
        self._option_text = ""
        self._textarea: Field | None = None

    def handle_starttag(self, tag, attrs):  # noqa: C901 (one branch per tag)
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "form":
            form = Form(action=a.get("action"), method=(a.get("method") or "get").lower())
            for verb in ("post", "get"):
                if f"hx-{verb}" in a:
                    form.hx_method, form.hx_url = verb, a[f"hx-{verb}"]
            if a.get("hx-vals"):
                try:
                    form.hx_vals = json.loads(a["hx-vals"])
                except ValueError:
                    form.hx_vals = {}
            form.hx_target = a.get("hx-target")
            form.form_id = a.get("id")
            self.forms.append(form)
            if form.form_id:
                self.by_id[form.form_id] = form
            self._form = form
            return
        if tag not in FIELD_TAGS and tag != "option":
            if self._form is None:
                self._hx_element(a)
            return
        if tag == "option":
            if self._select is not None:
                self._option_value = a.get("value")
                self._option_text = ""
                if self._option_value is not None:
                    self._select.options.append(self._option_value)
                    # The selected option, else the first one (what a browser sends).
                    if "selected" in a or len(self._select.options) == 1:
                        self._select.value = self._option_value
            return
        if "hx-get" in a or "hx-post" in a or (self._form is None and "form" not in a):
            self._hx_element(a)
        name = a.get("name")
        if not name:
            return
        kind = a.get("type", "text").lower() if tag == "input" else tag
        if tag == "button":
            if a.get("type", "submit").lower() != "submit":
                return
            kind = "submit"
        if kind == "submit" and tag == "input":
            kind = "submit"
        if kind in SKIPPED_INPUT_TYPES:
            return
        value = a.get("value", "on" if kind in ("checkbox", "radio") else "")
        new = Field(
            name=name,
            value=value,
            kind=kind,
            attrs=a,
            checked="checked" in a if kind in ("checkbox", "radio") else True,
        )
        if tag == "select":
            new.value = ""
            self._select = new
        if tag == "textarea":
            self._textarea = new
        if "form" in a:
            self.orphans.append((a["form"], new))
        elif self._form is not None:
            self._form.fields.append(new)

    def _hx_element(self, a: dict) -> None:
        for verb in ("get", "post"):
            if f"hx-{verb}" in a:
                self.hx.append(
                    HxRequest(
                        method=verb,
                        url=a[f"hx-{verb}"],
                        name=a.get("name"),
                        value=a.get("value", ""),
                        target=a.get("hx-target"),
                    )
                )

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "option":
            self._option_value = None

    def close(self):
        super().close()
        for form_id, orphan in self.orphans:
            if form_id in self.by_id:
                self.by_id[form_id].fields.append(orphan)


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser
