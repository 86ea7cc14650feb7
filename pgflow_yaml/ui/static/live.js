// pgflow ui: live updates. The page names its topic in <body data-topic>; the server sends
// Server-Sent Events from its one LISTEN connection; this recolours what changed, no reload.
"use strict";
(function () {
  var topic = document.body.dataset.topic;
  if (!topic || !window.EventSource) { return; }
  var source = new EventSource("/events?topic=" + encodeURIComponent(topic));
  source.onopen = function () { document.body.classList.add("is-live"); document.body.dataset.live = "on"; };
  source.onerror = function () { document.body.classList.remove("is-live"); document.body.dataset.live = "off"; };

  function setStatus(el, status) {
    el.className = el.className.replace(/\bst-[a-z]+/g, "").trim() + " st-" + status;
    el.textContent = status;
  }
  function show(id) { var el = document.getElementById(id); if (el) { el.hidden = false; } }

  function showWhy(rows) {  // the reasons of pgflow.explain_run, as text (never as HTML)
    var section = document.getElementById("why"), body = document.getElementById("why-rows");
    if (!section || !body) { return; }
    body.textContent = "";
    rows.forEach(function (w) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-why-step", w.step_slug);
      [w.step_slug, w.task_index, w.reason, w.text, w.until].forEach(function (value, i) {
        var td = document.createElement("td");
        if (i === 2) { var b = document.createElement("span"); b.className = "badge reason"; b.textContent = value; td.appendChild(b); }
        else { td.textContent = value; }
        if (i === 3) { td.className = "why-text"; }
        if (i === 4) { td.className = "mono"; }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    section.hidden = rows.length === 0;
  }

  source.addEventListener("why", function (e) { showWhy(JSON.parse(e.data).why); });  // another run of the flow changed

  source.addEventListener("reload", function () { show(topic === "runs" ? "new-runs" : "changed"); });

  source.addEventListener("run", function (e) {  // the runs list
    var run = JSON.parse(e.data);
    var row = document.querySelector('tr[data-run-id="' + run.run_id + '"]');
    if (!row) { if (document.body.dataset.firstPage) { show("new-runs"); } return; }
    setStatus(row.querySelector('[data-role="status"]'), run.status);
    row.querySelector('[data-role="duration"]').textContent = run.duration;
  });

  source.addEventListener("steps", function (e) {  // a run page
    var msg = JSON.parse(e.data);
    var changed = false;
    Object.keys(msg.steps).forEach(function (slug) {
      var status = msg.steps[slug];
      document.querySelectorAll("svg.dag g.step").forEach(function (g) {
        if (g.getAttribute("data-step") !== slug) { return; }
        var was = (g.getAttribute("class") || "").match(/\bst-([a-z]+)/);
        if (was && was[1] === status) { return; }
        changed = true;
        var cls = (g.getAttribute("class") || "").replace(/\bst-[a-z]+/g, "").replace(/\s+/g, " ").trim();
        g.setAttribute("class", cls + " st-" + status);
        var sub = g.querySelector("text.sub"); if (sub) { sub.textContent = status; }
      });
      document.querySelectorAll("[data-step-status]").forEach(function (b) {
        if (b.getAttribute("data-step-status") === slug && b.textContent !== status) { setStatus(b, status); changed = true; }
      });
    });
    if (msg.why) { showWhy(msg.why); }
    var badge = document.getElementById("run-status");
    if (badge && badge.textContent !== msg.run.status) { setStatus(badge, msg.run.status); changed = true; }
    var dur = document.getElementById("run-duration"); if (dur) { dur.textContent = msg.run.duration; }
    if (changed) { show("changed"); }
  });
})();
