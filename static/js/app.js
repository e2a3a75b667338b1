// Small behaviours that keep every form a plain form (no inline script under the CSP).
(function () {
  "use strict";

  // One delegated listener per behaviour; studio.js (loaded after this file) uses it too.
  function on(event, selector, handler, options) {
    document.addEventListener(event, function (e) {
      const target = e.target instanceof Element ? e.target.closest(selector) : null;
      if (target) handler(e, target);
    }, options);
  }
  window.seedanceOn = on;

  // A <select data-autosubmit> submits its form when changed.
  on("change", "select[data-autosubmit]", function (e, select) {
    if (select.form.requestSubmit) select.form.requestSubmit(); else select.form.submit();
  });

  // <form data-confirm="…"> asks before it submits.
  on("submit", "form[data-confirm]", function (e, form) {
    if (!window.confirm(form.dataset.confirm)) e.preventDefault();
  });

  on("focusin", "[data-select-on-focus]", function (e, input) { input.select(); });

  // <button data-copy="text"> copies to the clipboard.
  on("click", "[data-copy]", function (e, button) {
    if (!navigator.clipboard) return;
    navigator.clipboard.writeText(button.dataset.copy).then(function () {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // Toasts: the server sends HX-Trigger {"toast": {"message": "...", "level": "..."}}.
  function toast(message, level) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const item = document.createElement("div");
    item.className = "toast " + (level || "info");
    item.setAttribute("role", "status");
    item.textContent = message;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 6000);
  }
  window.seedanceToast = toast;
  document.addEventListener("DOMContentLoaded", function () {
    document.body.addEventListener("toast", function (e) { toast(e.detail.message, e.detail.level); });
  });
})();
