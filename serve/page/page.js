// quco serve's page: a form for POST /v1/risk, the report as `quco risk --html` renders it, the index summary.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);

  function headers() {
    const h = { "Content-Type": "application/json" };
    const key = $("api-key").value.trim();
    if (key) h["Authorization"] = "Bearer " + key;
    return h;
  }

  async function errorText(resp) {
    try {
      const body = await resp.json();
      return (body.error && body.error.message) || resp.statusText;
    } catch (e) {
      return resp.statusText;
    }
  }

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = !message;
  }

  async function loadSummary() {
    const resp = await fetch("v1/index", { headers: headers() });
    if (!resp.ok) {
      $("index-summary").textContent = "index summary: " + (await errorText(resp));
      return;
    }
    const s = await resp.json();
    const n = (x) => (x == null ? "?" : Number(x).toLocaleString("en"));
    $("index-summary").textContent = `index ${s.path}: ${n(s.documents)} documents, ${n(s.tokens)} tokens, ` +
      `${n(s.entities)} entities, ${n(s.pairs)} pairs, window ${n(s.window)} tokens, extractor ${s.extractor}; ` +
      `server mode ${s.mode}`;
  }

  async function check(event) {
    event.preventDefault();
    showError("");
    const body = { question: $("question").value };
    if ($("answer").value.trim()) body.answer = $("answer").value;
    if ($("mode").value) body.mode = $("mode").value;
    $("check").disabled = true;
    try {
      const resp = await fetch("v1/risk?format=html", { method: "POST", headers: headers(), body: JSON.stringify(body) });
      if (!resp.ok) {
        showError(`HTTP ${resp.status}: ${await errorText(resp)}`);
        return;
      }
      const decision = resp.headers.get("x-quco-decision");
      $("decision").textContent = decision;
      $("decision").className = decision;
      $("risk").textContent = `risk ${resp.headers.get("x-quco-risk")}, stage ${resp.headers.get("x-quco-stage")}`;
      $("report").srcdoc = await resp.text();
      $("result").hidden = false;
    } catch (e) {
      showError("request failed: " + e);
    } finally {
      $("check").disabled = false;
    }
  }

  $("risk-form").addEventListener("submit", check);
  $("api-key").addEventListener("change", loadSummary);
  loadSummary();
})();
