// Self-hosted, no dependencies (CSP: script-src 'self').
(function () {
  "use strict";

  // Ask before destructive actions: <form data-confirm="Question?">.
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // <input type="checkbox" data-check-all="name"> ticks every box called "name" in its form.
  document.addEventListener("change", function (event) {
    var name = event.target.getAttribute && event.target.getAttribute("data-check-all");
    if (!name || !event.target.form) return;
    var boxes = event.target.form.querySelectorAll('input[type=checkbox][name="' + name + '"]');
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = event.target.checked;
  });

  function getJSON(url, done) {
    var request = new XMLHttpRequest();
    request.open("GET", url);
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      if (request.status === 200) {
        try { done(JSON.parse(request.responseText)); } catch (e) { done(null); }
      } else { done(null); }
    };
    request.onerror = function () { done(null); };
    request.send();
  }

  function number(n) { return Number(n || 0).toLocaleString(); }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    seconds = Math.round(seconds);
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min " + (seconds % 60) + " s";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  // The live progress bar of the tenant page: polls the small JSON endpoint.
  function setBar(box, percent) {
    var bar = box.querySelector("[data-field=bar]");
    var track = box.querySelector("[role=progressbar]");
    if (!bar || !track) return;
    if (percent === null || percent === undefined || percent === "") {
      track.classList.add("indeterminate");
      track.removeAttribute("aria-valuenow");
      bar.style.width = "";
    } else {
      track.classList.remove("indeterminate");
      track.setAttribute("aria-valuenow", String(percent));
      bar.style.width = percent + "%";
    }
  }

  function progress(box) {
    var url = box.getAttribute("data-progress-url");
    var runId = box.getAttribute("data-run");
    var wasActive = box.getAttribute("data-active") === "1";
    setBar(box, box.querySelector("[data-field=bar]").getAttribute("data-percent"));
    function tick() {
      getJSON(url + (runId ? "?run=" + runId : ""), function (data) {
        if (!data) { window.setTimeout(tick, 5000); return; }
        if (!data.id) { window.setTimeout(tick, 5000); return; } // idle: look again later
        runId = String(data.id);
        box.hidden = false;
        box.querySelector("[data-field=headline]").textContent =
          data.mode + " sync " + data.state_label.toLowerCase() + (data.phase === "reconcile" ? " (checking for removed profiles)" : "");
        setBar(box, data.percent);
        var facts = data.pages + " pages · " + number(data.fetched) + " profiles";
        if (data.expected) facts += " of about " + number(data.expected);
        facts += " · " + data.rate + " profiles/s";
        if (data.eta_seconds !== null && data.active) facts += " · about " + duration(data.eta_seconds) + " left";
        if (!data.active) facts += " · took " + duration(data.elapsed_seconds);
        if (data.error) facts += " — " + data.error;
        box.querySelector("[data-field=facts]").textContent = facts;
        box.setAttribute("data-state", data.state);
        if (data.active) {
          wasActive = true;
          window.setTimeout(tick, 1000);
        } else if (wasActive) {
          // Finished: reload once to show the new history, counts and chart.
          window.location.reload();
        }
      });
    }
    tick();
  }

  // Live states of profile changes (queued → sending → done / failed with Copernica's message /
  // conflict, which waits for someone to send it anyway or discard it).
  function changes(table) {
    var url = table.getAttribute("data-states-url");
    var landed = false;
    function pending() { return table.querySelectorAll("tr[data-pending]"); }
    function tick() {
      var rows = pending();
      if (!rows.length) return;
      var ids = [];
      for (var i = 0; i < rows.length; i++) ids.push(rows[i].getAttribute("data-change-id"));
      getJSON(url + "?ids=" + ids.join(","), function (data) {
        if (data && data.changes) {
          data.changes.forEach(function (change) {
            var row = table.querySelector('tr[data-change-id="' + change.id + '"]');
            if (!row) return;
            var badge = row.querySelector("[data-field=state]");
            badge.textContent = change.label;
            badge.className = "badge change-" + change.state;
            var message = row.querySelector("[data-field=message]");
            if (message) message.textContent = (change.finished && change.state !== "done") || change.waiting ? change.message : "";
            if (change.finished || change.waiting) {
              // Done shows the values that landed; a conflict shows Copernica's beside the edit.
              row.removeAttribute("data-pending");
              if (change.state === "done" || change.waiting) landed = true;
            }
          });
        }
        if (landed && table.getAttribute("data-reload-on-done") && !pending().length) {
          // The (sub)profile page shows the mirror: reload once to show the values that landed,
          // or the conflict with its buttons.
          window.location.reload();
          return;
        }
        window.setTimeout(tick, 1000);
      });
    }
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var boxes = document.querySelectorAll("[data-progress-url]");
    for (var i = 0; i < boxes.length; i++) progress(boxes[i]);
    var tables = document.querySelectorAll("table[data-states-url]");
    for (var j = 0; j < tables.length; j++) changes(tables[j]);
  });
})();
