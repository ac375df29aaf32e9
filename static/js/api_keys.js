// The API keys page: copy a new key to the clipboard. Self-hosted (CSP: script-src 'self').
(function () {
  "use strict";

  function tell(button, text) {
    var status = button.parentNode.querySelector("[data-copy-status]");
    if (status) status.textContent = text;
  }

  function selectAndCopy(field) {
    field.focus();
    field.select();
    try {
      return document.execCommand("copy");
    } catch (e) {
      return false;
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    var copied = function () { tell(button, "Copied to the clipboard."); };
    var fallback = function () {
      if (selectAndCopy(field)) copied();
      else tell(button, "Selected: copy it with Ctrl+C (or ⌘C).");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(copied, fallback);
    } else {
      fallback();
    }
  });
})();
