// Dead letters on the page: the newest ones, one in full, and redriving its work (admin).
// It follows the reviewer page's session (app.js): shown while a token is signed in, with
// that token. Plain DOM: every value from the API is rendered with textContent, never as HTML.
"use strict";

(() => {
  const { TOKEN_KEY, byTestId, el } = window.agentmeshPage;
  const ui = {
    session: byTestId("session"),
    section: byTestId("dlq"),
    count: byTestId("dlq-count"),
    refresh: byTestId("dlq-refresh"),
    status: byTestId("dlq-status"),
    list: byTestId("dlq-list"),
  };
  if (!ui.section || !ui.session) return;

  // Says what a failed call means for the person, in words.
  async function api(method, path, body) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new Error("Cannot reach the gateway (network error). Is it running?");
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (err) {
      data = null;
    }
    if (response.ok) return data;
    const said = (data && (data.error || data.detail)) || text.slice(0, 200) || response.statusText;
    if (response.status === 403) {
      throw new Error("Your token may not do this: reading dead letters needs the auditor or admin role, redriving them admin.");
    }
    throw new Error(`${response.status}: ${typeof said === "string" ? said : JSON.stringify(said)}`);
  }

  function summary(letter) {
    const redriven = letter.redrive_count ? `, redriven ${letter.redrive_count}×` : "";
    return `${letter.stage} · ${letter.agent || "?"} · task ${letter.task_id || "?"}${redriven}`;
  }

  function card(letter) {
    const item = el("article", { class: "review dead-letter", "data-testid": "dead-letter", "data-id": letter.id });
    const title = el("h3", {}, `${letter.error_class}: `, el("span", { class: "reason" }, letter.error_message));
    const meta = el("p", { class: "help" }, `${summary(letter)} · ${letter.failed_at} · ${letter.id}`);
    const open = el("button", { type: "button", class: "quiet", "data-testid": "dlq-open" }, "Show and redrive…");
    const body = el("div", { "data-testid": "dlq-detail", hidden: "" });
    open.addEventListener("click", () => expand(letter.id, body, open));
    item.append(el("header", {}, title), meta, open, body);
    return item;
  }

  async function expand(id, body, open) {
    open.disabled = true;
    body.hidden = false;
    body.replaceChildren(el("p", { class: "empty" }, "Loading…"));
    try {
      const full = await api("GET", `v1/dlq/${encodeURIComponent(id)}`);
      body.replaceChildren(...detail(full));
    } catch (err) {
      body.replaceChildren(el("p", { class: "status error" }, err.message));
      open.disabled = false;
    }
  }

  function detail(full) {
    const payload = full.handoff ? JSON.stringify(full.handoff.payload, null, 2) : "";
    const from = `${full.original_topic}@${full.original_partition}:${full.original_offset}`;
    const facts = el("dl", { class: "details" },
      el("dt", {}, "came from"), el("dd", {}, from),
      el("dt", {}, "attempts"), el("dd", {}, String(full.attempts)),
      el("dt", {}, "redriven from"), el("dd", {}, full.redriven_from || "—"));
    if (full.not_redrivable) {
      return [facts, el("p", { class: "status", "data-testid": "dlq-not-redrivable" }, `Cannot be redriven: ${full.not_redrivable}`)];
    }
    const edit = el("textarea", { rows: "8", "data-testid": "dlq-payload", spellcheck: "false", "aria-label": "Payload (edit to fix it)" });
    edit.value = payload;
    const reason = el("textarea", { rows: "2", maxlength: "4000", "data-testid": "dlq-reason", "aria-label": "Reason (required; travels with the work and is audited)" });
    const go = el("button", { type: "button", class: "danger", "data-testid": "dlq-redrive", disabled: "" }, "Redrive");
    const status = el("p", { class: "status", role: "status", "aria-live": "polite", "data-testid": "dlq-redrive-status" });
    reason.addEventListener("input", () => { go.disabled = !reason.value.trim(); });
    go.addEventListener("click", () => redrive(full.id, edit, payload, reason, go, status));
    return [
      facts,
      el("label", {}, "Payload (edit it to redrive a fixed one; checked against the handoff's schema)"), edit,
      el("label", {}, "Reason (required)"), reason,
      el("div", { class: "buttons" }, go), status,
    ];
  }

  async function redrive(id, edit, original, reason, go, status) {
    const body = { reason: reason.value.trim() };
    if (edit.value.trim() !== original.trim()) {
      try {
        body.edited_payload = JSON.parse(edit.value);
      } catch (err) {
        status.textContent = `The payload is not JSON: ${err.message}`;
        return;
      }
      if (typeof body.edited_payload !== "object" || Array.isArray(body.edited_payload) || body.edited_payload === null) {
        status.textContent = "The payload must be a JSON object.";
        return;
      }
    }
    go.disabled = true;
    status.textContent = "Redriving…";
    try {
      const done = await api("POST", `v1/dlq/${encodeURIComponent(id)}/redrive`, body);
      const audit = done.audited ? "audited" : "not audited: no supervisor in this namespace";
      status.textContent = `Redriven to ${done.topic}@${done.partition}:${done.offset} (redrive ${done.redrive_count}; ${audit}). Redriving it again runs it no more.`;
    } catch (err) {
      status.textContent = err.message;
      go.disabled = false;
    }
  }

  async function load() {
    ui.status.textContent = "Loading…";
    try {
      const letters = await api("GET", "v1/dlq?limit=50");
      ui.list.replaceChildren(...letters.map((l) => card({ ...l, id: l.dead_letter_id })));
      ui.count.textContent = String(letters.length);
      ui.status.textContent = letters.length ? "" : "No dead letters.";
    } catch (err) {
      ui.list.replaceChildren();
      ui.count.textContent = "–";
      ui.status.textContent = err.message;
    }
  }

  ui.refresh.addEventListener("click", load);
  // Shown exactly while the reviewer page has a session.
  const follow = () => {
    const signedIn = !ui.session.hidden;
    if (signedIn === !ui.section.hidden) return;
    ui.section.hidden = !signedIn;
    if (signedIn) load();
    else ui.list.replaceChildren();
  };
  new MutationObserver(follow).observe(ui.session, { attributes: true, attributeFilter: ["hidden"] });
  follow();
})();
