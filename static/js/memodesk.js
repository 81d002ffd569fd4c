// Memodesk's small helpers; htmx attributes do the rest.
// A form marked data-submit-once is sent once: a double click or a second Enter does nothing
// (the server's idempotency key is the backstop). Buttons are not `disabled`, because a disabled
// submitter would not send its name and value.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("[data-submit-once]")) return;
  if (form.dataset.submitting) {
    event.preventDefault();
    return;
  }
  form.dataset.submitting = "1";
  form.querySelectorAll("button[type=submit]").forEach((button) => {
    button.setAttribute("aria-disabled", "true");
    button.classList.add("disabled");
  });
});
// Coming back to the page with Back restores it from the cache: let it be sent again.
window.addEventListener("pageshow", () => {
  document.querySelectorAll("form[data-submitting]").forEach((form) => {
    delete form.dataset.submitting;
    form.querySelectorAll("button[type=submit]").forEach((b) => {
      b.removeAttribute("aria-disabled");
      b.classList.remove("disabled");
    });
  });
});

// Dialogs open with focus on their safe choice (Cancel), not on the destructive button.
document.addEventListener("shown.bs.modal", (event) => {
  const target = event.target.querySelector("[data-initial-focus]");
  if (target) target.focus();
});

// Behaviour that would otherwise be inline (the Content-Security-Policy forbids inline script):
// a "select all" checkbox names the boxes it drives in data-select-all.
document.addEventListener("change", (event) => {
  const box = event.target.closest("[data-select-all]");
  if (!box) return;
  document.querySelectorAll(box.dataset.selectAll).forEach((other) => {
    other.checked = box.checked;
  });
});

// A "Remove" button in an item grid removes its row and the row of errors under it, then tells
// the form (named in data-remove-row) that it changed, so the live totals follow.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-remove-row]");
  if (!button) return;
  const row = button.closest("tr");
  const errors = row.nextElementSibling;
  if (errors && errors.classList.contains("row-errors")) errors.remove();
  row.remove();
  htmx.trigger(button.dataset.removeRow, "change");
});

// A progress bar's width comes from data-progress (an inline style would be refused), on the
// first load and after every htmx swap that brings a new bar.
document.addEventListener("htmx:load", (event) => {
  const root = event.detail.elt;
  const bars = [...root.querySelectorAll("[data-progress]")];
  if (root.matches("[data-progress]")) bars.push(root);
  bars.forEach((bar) => {
    bar.style.width = `${bar.dataset.progress}%`;
  });
});

// The filter form always says what the address says. A chip, a sort header or a page link
// changes the list and the URL without the form, and Back or Forward restores the page from
// htmx's history cache, whose snapshot keeps the form's markup but not what was chosen in it:
// without this, the form would show "Any" while the table stays filtered, and the next change
// would silently drop (or bring back) a filter. The field being typed in is left alone.
function syncFilterForm() {
  const form = document.getElementById("filter-form");
  if (!form) return;
  const params = new URLSearchParams(window.location.search);
  for (const field of form.elements) {
    if (!field.name || field === document.activeElement) continue;
    if (["submit", "button", "hidden"].includes(field.type)) continue;
    const values = params.getAll(field.name);
    if (field.type === "checkbox" || field.type === "radio") {
      field.checked = values.includes(field.value);
    } else if (field.tagName === "SELECT") {
      field.value = values[0] ?? "";
      if (field.selectedIndex === -1) field.selectedIndex = 0;
    } else {
      field.value = values[0] ?? "";
    }
  }
}
["htmx:pushedIntoHistory", "htmx:replacedInHistory", "htmx:historyRestore"].forEach((name) =>
  document.addEventListener(name, syncFilterForm),
);
window.addEventListener("popstate", () => setTimeout(syncFilterForm));
window.addEventListener("pageshow", syncFilterForm);

// A filter form sends only the filters that are set, so the address a list is bookmarked or
// shared by reads "?status=posted", not a dozen empty parameters.
document.addEventListener("htmx:configRequest", (event) => {
  if (event.detail.verb !== "get" || event.detail.elt.id !== "filter-form") return;
  const data = event.detail.formData;
  for (const name of new Set(data.keys())) {
    const kept = data.getAll(name).filter((value) => value !== "");
    data.delete(name);
    kept.forEach((value) => data.append(name, value));
  }
});

// Transferred to Accounting: Yes can only be undone by an admin, so a form that sets it
// (data-confirm-yes holds the question) asks first, whether the value comes from its select or
// from the button that submitted it.
document.addEventListener("htmx:confirm", (event) => {
  const form = event.detail.elt.closest && event.detail.elt.closest("form[data-confirm-yes]");
  if (!form) return;
  const submitter = event.detail.triggeringEvent && event.detail.triggeringEvent.submitter;
  const select = form.querySelector("select[name=transferred_to_accounting]");
  const value =
    submitter && submitter.name === "transferred_to_accounting" ? submitter.value : select?.value;
  if (value !== "yes") return;
  event.preventDefault();
  if (window.confirm(form.dataset.confirmYes)) event.detail.issueRequest(true);
});

// A control swapped for itself by htmx (data-keep-focus on its container, which has an id) keeps
// the keyboard focus: it goes back to the new control's first field, or to the container.
let keepFocusOn = null;
document.addEventListener("htmx:beforeRequest", (event) => {
  // Only a keeper's own request sets it: a panel refreshing meanwhile (memoChanged) must not
  // make the control lose the focus.
  const keeper = event.detail.elt.closest && event.detail.elt.closest("[data-keep-focus][id]");
  if (keeper) keepFocusOn = keeper.id;
});
document.addEventListener("htmx:afterSettle", () => {
  if (!keepFocusOn) return;
  const box = document.getElementById(keepFocusOn);
  keepFocusOn = null;
  if (!box) return;
  (box.querySelector("select, button, input:not([type=hidden])") || box).focus();
});
