// Memodesk's small helpers; htmx attributes do the rest.
// A busy database answers 503 with its message out of band for #messages (HX-Reswap: none);
// htmx swaps no error response by default, so let this one through.
if (window.htmx) {
  htmx.config.responseHandling.unshift({ code: "503", swap: true, error: true });
}

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
  // The focus goes to the nearest row that stays (the next one, else the one before), else to the
  // grid's form: never to the page body.
  let nearest = errors && errors.classList.contains("row-errors") ? errors.nextElementSibling : errors;
  if (!nearest) {
    nearest = row.previousElementSibling;
    if (nearest && nearest.classList.contains("row-errors")) nearest = nearest.previousElementSibling;
  }
  if (errors && errors.classList.contains("row-errors")) errors.remove();
  row.remove();
  const target = nearest && nearest.querySelector("select, input:not([type=hidden]), button");
  if (target) target.focus();
  else document.querySelector(button.dataset.removeRow)?.querySelector("button, select")?.focus();
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
  // make the control lose the focus. The button that was used is found again by name and value.
  const keeper = event.detail.elt.closest && event.detail.elt.closest("[data-keep-focus][id]");
  if (!keeper) return;
  const used = document.activeElement;
  keepFocusOn = {
    id: keeper.id,
    selector: used && used.name ? `[name="${used.name}"][value="${used.value}"]` : null,
  };
});
document.addEventListener("htmx:afterSettle", () => {
  if (!keepFocusOn) return;
  const { id, selector } = keepFocusOn;
  const box = document.getElementById(id);
  keepFocusOn = null;
  if (!box) {
    // The control is gone (e.g. no row left to mark): the page heading, not the body.
    document.querySelector("main h1[tabindex]")?.focus();
    return;
  }
  const again = selector && box.querySelector(selector);
  (again || box.querySelector("select, button, input:not([type=hidden])") || box).focus();
});

// A dialog opened from a "More" menu gives the focus back to "More" when it closes (its menu item
// is hidden by then, so Bootstrap's own return of focus would land on the page body).
document.addEventListener("show.bs.modal", (event) => {
  event.target.openedBy = event.relatedTarget || document.activeElement;
});
document.addEventListener("hidden.bs.modal", (event) => {
  const opener = event.target.openedBy;
  if (!opener) return;
  const menu = opener.closest(".dropdown");
  const toggle = menu && menu.querySelector("[data-bs-toggle=dropdown]");
  (toggle || opener).focus();
});

// After a full-page action the focus starts where the outcome is: the first field in error, or
// the page's heading when the page opens with a message (Saved, Posted, refused...).
document.addEventListener("DOMContentLoaded", () => {
  const invalid = document.querySelector("main .is-invalid");
  if (invalid) {
    invalid.focus();
    return;
  }
  const heading = document.querySelector("main h1[tabindex]");
  if (heading && document.querySelector("#messages .alert")) heading.focus();
});

// Every field shown invalid (Bootstrap's is-invalid, set by the templates beside their error) is
// also announced invalid to assistive technology, on the first load and after every swap.
document.addEventListener("htmx:load", (event) => {
  const root = event.detail.elt;
  const fields = [...root.querySelectorAll("input, select, textarea")];
  if (root.matches("input, select, textarea")) fields.push(root);
  fields.forEach((field) => {
    if (field.classList.contains("is-invalid")) field.setAttribute("aria-invalid", "true");
    else if (field.getAttribute("aria-invalid") === "true") field.removeAttribute("aria-invalid");
  });
});

// --- Apply page (/memos/<number>/apply/) ---------------------------------------------------------
// Each row's errors are refreshed out of band as the operator types (the live preview): the
// row's amount field (named by the error block's data-errors-for) is shown and announced
// invalid exactly while its row has an error.
document.addEventListener("htmx:afterSettle", () => {
  document.querySelectorAll("[data-errors-for]").forEach((block) => {
    const field = document.getElementById(block.dataset.errorsFor);
    if (!field) return;
    const invalid = block.textContent.trim() !== "";
    field.classList.toggle("is-invalid", invalid);
    if (invalid) field.setAttribute("aria-invalid", "true");
    else field.removeAttribute("aria-invalid");
  });
});
// After a failed save whose error is no field's (nothing typed, more than the unapplied amount
// beside the total), the focus goes to that error rather than staying on the page body.
document.addEventListener("DOMContentLoaded", () => {
  if (document.activeElement && document.activeElement !== document.body) return;
  const error = [...document.querySelectorAll("main [data-first-error]")].find(
    (block) => block.textContent.trim() !== "",
  );
  if (error) error.focus();
});

// --- Memo from charges (/memos/new/) -----------------------------------------------------------

// The account picker is a combobox (the WAI-ARIA 1.2 pattern): typing searches (htmx swaps in
// #account-options, a listbox of number, name and currency); Down and Up move through the matches,
// Enter picks one, Escape closes the list. The pick is sent as a change, so the live totals follow.
function accountPicker() {
  const input = document.querySelector("[data-account-picker] [role=combobox]");
  return input ? { input, list: document.getElementById("account-options") } : null;
}
function accountOptions(list) {
  return list ? [...list.querySelectorAll("[role=option]")] : [];
}
function closeAccountOptions(picker) {
  picker.list.hidden = true;
  picker.input.setAttribute("aria-expanded", "false");
  picker.input.removeAttribute("aria-activedescendant");
}
function openAccountOptions(picker) {
  if (!accountOptions(picker.list).length) return closeAccountOptions(picker);
  picker.list.hidden = false;
  picker.input.setAttribute("aria-expanded", "true");
}
function markAccountOption(picker, option) {
  accountOptions(picker.list).forEach((other) => {
    other.classList.toggle("active", other === option);
    other.setAttribute("aria-selected", other === option ? "true" : "false");
  });
  picker.input.setAttribute("aria-activedescendant", option.id);
  option.scrollIntoView({ block: "nearest" });
}
function pickAccount(picker, option) {
  picker.input.value = option.dataset.value;
  closeAccountOptions(picker);
  picker.input.focus();
  picker.input.dispatchEvent(new Event("change", { bubbles: true }));
}
document.addEventListener("htmx:afterSettle", (event) => {
  const picker = accountPicker();
  if (!picker || event.target !== picker.list) return;
  const count = accountOptions(picker.list).length;
  if (document.activeElement !== picker.input) return;
  if (count) openAccountOptions(picker);
  else closeAccountOptions(picker);
  const status = document.getElementById("account-search-status");
  if (status && picker.input.value.trim()) {
    status.textContent = count
      ? `${count} account${count === 1 ? "" : "s"} found; use the arrow keys to choose.`
      : "No account matches.";
  }
});
document.addEventListener("keydown", (event) => {
  const picker = accountPicker();
  if (!picker || event.target !== picker.input) return;
  const options = accountOptions(picker.list);
  const open = picker.list && !picker.list.hidden;
  const active = options.findIndex((option) => option.classList.contains("active"));
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    if (!options.length) return;
    event.preventDefault();
    if (!open) openAccountOptions(picker);
    const step = event.key === "ArrowDown" ? 1 : -1;
    const next = active === -1 ? (step === 1 ? 0 : options.length - 1) : active + step;
    markAccountOption(picker, options[(next + options.length) % options.length]);
  } else if (event.key === "Enter" && open && active !== -1) {
    event.preventDefault(); // picks the account; it does not submit the form
    pickAccount(picker, options[active]);
  } else if (event.key === "Escape" && open) {
    event.preventDefault();
    closeAccountOptions(picker);
  }
});
document.addEventListener("mousedown", (event) => {
  // Keeps the focus in the field while a match is clicked.
  if (event.target.closest && event.target.closest("#account-options [role=option]")) {
    event.preventDefault();
  }
});
document.addEventListener("click", (event) => {
  const option = event.target.closest && event.target.closest("#account-options [role=option]");
  const picker = accountPicker();
  if (option && picker) pickAccount(picker, option);
});
document.addEventListener("focusout", (event) => {
  const picker = accountPicker();
  if (!picker || event.target !== picker.input) return;
  if (!event.relatedTarget || !picker.list || !picker.list.contains(event.relatedTarget)) {
    closeAccountOptions(picker);
  }
});

// Each control of a charge row is labelled with its row: "Unit price, Platform Subscription", or
// "Unit price, line 2" before a charge is chosen. Rows come and go and charges change, so the
// labels follow the grid.
function labelChargeRows(grid) {
  grid.querySelectorAll("tr[data-charge-row]").forEach((row, index) => {
    const option = row.querySelector("[data-charge-select]")?.selectedOptions[0];
    const label = option && option.dataset.name ? option.dataset.name : `line ${index + 1}`;
    row.querySelectorAll("[data-label]").forEach((control) => {
      control.setAttribute("aria-label", `${control.dataset.label}, ${label}`);
    });
  });
}
document.addEventListener("DOMContentLoaded", () => {
  const grid = document.getElementById("charge-rows");
  if (!grid) return;
  new MutationObserver(() => labelChargeRows(grid)).observe(grid, { childList: true });
  applyChargeDefaults();
});
document.addEventListener("change", (event) => {
  if (!event.target.matches("[data-charge-select]")) return;
  const grid = event.target.closest("#charge-rows");
  if (grid) labelChargeRows(grid);
});

// Choosing a charge fills in its list price (the unit price) and the account's billing period
// (the service dates), without reloading the page: the live preview answers them in each row's
// [data-row-defaults]. A figure the operator has typed is never replaced; one the page filled in
// (named in the row's hidden `prefilled` field) follows the charge, the account and the memo date.
const PREFILLABLE = ["unit_price", "service_start", "service_end"];
function applyRowDefaults(defaults) {
  const row = defaults.closest("tr[data-charge-row]");
  const select = row && row.querySelector("[data-charge-select]");
  // An answer for another charge (or before the account is known) waits for the next one.
  if (!select || defaults.dataset.ready !== "1" || select.value !== defaults.dataset.charge) {
    return false;
  }
  const kept = row.querySelector("[data-prefilled]");
  const prefilled = new Set(kept.value.split(" ").filter(Boolean));
  let changed = false;
  PREFILLABLE.forEach((name) => {
    const field = row.querySelector(`[data-field="${name}"]`);
    if (!field || (field.value !== "" && !prefilled.has(name))) return; // typed: the operator's
    const value = defaults.dataset[name] || "";
    if (field.value !== value) {
      field.value = value;
      changed = true;
    }
    if (value) prefilled.add(name);
    else prefilled.delete(name);
  });
  kept.value = [...prefilled].join(" ");
  return changed;
}
function applyChargeDefaults() {
  let changed = false;
  document.querySelectorAll("#charge-rows [data-row-defaults]").forEach((defaults) => {
    changed = applyRowDefaults(defaults) || changed;
  });
  // The figures changed: the totals are asked for again (the next answer changes nothing more).
  if (changed) htmx.trigger("#memo-form", "change");
}
document.addEventListener("input", (event) => {
  const field = event.target.closest && event.target.closest("#charge-rows [data-field]");
  if (!field || !PREFILLABLE.includes(field.dataset.field)) return;
  const kept = field.closest("tr").querySelector("[data-prefilled]");
  kept.value = kept.value
    .split(" ")
    .filter((name) => name && name !== field.dataset.field)
    .join(" ");
});
// The live preview says which fields of a row are in error (data-invalid): they are marked
// invalid, for the eye (is-invalid) and for assistive technology (aria-invalid).
function markChargeRowErrors() {
  document.querySelectorAll("#charge-rows [data-invalid]").forEach((errors) => {
    const row = errors.closest("tr")?.previousElementSibling;
    if (!row || !row.matches("tr[data-charge-row]")) return;
    const invalid = errors.dataset.invalid.split(" ");
    row.querySelectorAll("[data-field], [data-charge-select]").forEach((field) => {
      const bad = invalid.includes(field.dataset.field || "charge");
      field.classList.toggle("is-invalid", bad);
      if (bad) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
    });
  });
}
document.addEventListener("htmx:afterSettle", () => {
  if (!document.getElementById("charge-rows")) return;
  markChargeRowErrors();
  applyChargeDefaults();
});
