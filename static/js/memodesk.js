// Memodesk's small helpers; htmx attributes do the rest.
// A busy database answers 503 with its message out of band for #messages (HX-Reswap: none);
// htmx swaps no error response by default, so let this one through.
if (window.htmx) {
  htmx.config.responseHandling.unshift({ code: "503", swap: true, error: true });
}
// After an htmx swap that carries messages out of band, keep only the newest few visible.
document.addEventListener("htmx:afterSwap", () => {
  const alerts = document.querySelectorAll("#messages .alert");
  for (let i = 0; i < alerts.length - 3; i++) alerts[i].remove();
});

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
