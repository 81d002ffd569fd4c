// Memodesk's small helpers; htmx attributes do the rest.
// After an htmx swap that carries messages out of band, keep only the newest few visible.
document.addEventListener("htmx:afterSwap", () => {
  const alerts = document.querySelectorAll("#messages .alert");
  for (let i = 0; i < alerts.length - 3; i++) alerts[i].remove();
});
