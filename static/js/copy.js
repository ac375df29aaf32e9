// Copy buttons: <button data-copy-from="#field-id"> copies that field's value to the clipboard
// and says so in the [data-copy-status] of its [data-copy-scope]. Self-hosted (CSP: script-src
// 'self').
(function () {
  "use strict";

  function tell(button, text) {
    var box = button.closest("[data-copy-scope]") || document.body;
    var status = box.querySelector("[data-copy-status]");
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
    var button = event.target.closest && event.target.closest("[data-copy-from]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy-from"));
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
