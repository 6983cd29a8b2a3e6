// The reviewer page: the queue of parked work, decisions, live updates, the emergency stop.
// Plain DOM: every value from the API is rendered with textContent / attributes, never as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "agentmesh.reviewer.token";
  const DECIDED_KEY = "agentmesh.reviewer.decided";
  const CHOICES = [
    ["approve", "Approve", "release the parked work as shown"],
    ["approve_edited", "Edit and approve", "release an edited payload instead"],
    ["reject", "Reject", "the parked work does not run"],
  ];
  const KINDS = {
    tool_call: "Tool call",
    handoff: "Handoff",
    budget: "Budget exceeded",
    loop: "Loop stopped",
    pause: "Paused",
  };

  const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);
  const ui = {
    session: byTestId("session"),
    stream: byTestId("stream-status"),
    signOut: byTestId("sign-out"),
    error: byTestId("error"),
    notice: byTestId("notice"),
    login: byTestId("login"),
    loginForm: byTestId("login-form"),
    tokenInput: byTestId("token-input"),
    queue: byTestId("queue"),
    count: byTestId("pending-count"),
    empty: byTestId("empty-queue"),
    loading: byTestId("loading"),
    list: byTestId("review-list"),
    kill: byTestId("kill-switch"),
    killReason: byTestId("kill-reason"),
    pauseAll: byTestId("pause-all"),
    resumeAll: byTestId("resume-all"),
    killStatus: byTestId("kill-status"),
    confirm: byTestId("kill-confirm"),
  };

  let token = null;
  const items = new Map(); // review_id -> the pending item as served
  const cards = new Map(); // review_id -> the card's elements and form state
  const settled = new Set(); // review ids known to be released or rejected (never pending again)
  const decided = new Set(JSON.parse(sessionStorage.getItem(DECIDED_KEY) || "[]"));
  let stream = null;
  let retryTimer = null;
  let retryDelay = 1000;
  let cardSeq = 0;

  // ---- building DOM without HTML strings ---------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "testid") node.dataset.testid = value;
      else if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child); // strings become text nodes
    }
    return node;
  }

  // ---- talking to the gateway --------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, field) {
      super(message);
      this.status = status;
      this.field = field;
    }
  }

  function describe(status, body, statusText) {
    const said = body && typeof body.error === "string" ? body.error : statusText || "no details";
    const field = body && typeof body.field === "string" && body.field ? ` (field: ${body.field})` : "";
    switch (status) {
      case 401:
        return `Not signed in: the gateway refused the token (${said}). Enter a valid token.`;
      case 403:
        return `Not allowed: ${said}.`;
      case 404:
        return `Not found: ${said}.`;
      case 409:
        return `Conflict: ${said}.`;
      case 413:
        return `Too large: ${said}.`;
      case 422:
        return `The gateway refused the request${field}: ${said}.`;
      case 503:
        return `The gateway is not ready: ${said}.`;
      default:
        return `The gateway answered ${status}: ${said}.`;
    }
  }

  async function api(method, path, body) {
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
      throw new ApiError(0, "Cannot reach the gateway (network error). Is it running?");
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(
        response.status,
        describe(response.status, data, text.slice(0, 200) || response.statusText),
        data && data.field,
      );
    }
    return data;
  }

  function showError(message) {
    ui.error.textContent = message;
    ui.error.hidden = !message;
  }

  function announce(message) {
    ui.notice.textContent = message;
  }

  // ---- signing in and out ------------------------------------------------------------------

  function showLogin(message) {
    ui.session.hidden = true;
    ui.queue.hidden = true;
    ui.kill.hidden = true;
    ui.login.hidden = false;
    if (message) showError(message);
    ui.tokenInput.focus();
  }

  function signOut(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    closeStream();
    items.clear();
    settled.clear();
    decided.clear();
    sessionStorage.removeItem(DECIDED_KEY);
    for (const id of [...cards.keys()]) removeCard(id);
    renderCount();
    ui.killReason.value = "";
    ui.killStatus.textContent = "";
    delete ui.kill.dataset.state;
    killValidate();
    showLogin(message);
  }

  async function signIn(candidate) {
    token = candidate;
    showError("");
    ui.login.hidden = true;
    ui.queue.hidden = false;
    ui.loading.hidden = false;
    try {
      await loadList();
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        signOut(err.message);
        return;
      }
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    ui.session.hidden = false;
    ui.kill.hidden = false;
    openStream();
  }

  ui.loginForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const candidate = ui.tokenInput.value.trim();
    if (!candidate) {
      showError("Enter an API token first.");
      return;
    }
    ui.tokenInput.value = "";
    signIn(candidate);
  });
  ui.signOut.addEventListener("click", () => signOut(""));

  // ---- the queue and its live updates ------------------------------------------------------

  // Each list load in flight notes the ids the stream touched meanwhile: for those the
  // stream's version may be newer than the list's, so the list does not overrule it.
  const loads = new Set();

  async function loadList() {
    const touched = new Set();
    loads.add(touched);
    try {
      const list = await api("GET", "v1/reviews?status=pending");
      const fresh = new Map();
      for (const item of list) {
        if (item.status === "pending" && !settled.has(item.review_id)) fresh.set(item.review_id, item);
      }
      for (const id of [...items.keys()]) {
        if (!fresh.has(id) && !touched.has(id)) items.delete(id);
      }
      for (const [id, item] of fresh) {
        const known = items.get(id);
        if (!known || !touched.has(id) || further(item, known)) items.set(id, item);
      }
      showError("");
      render();
    } catch (err) {
      showError(err.message);
      if (err.status === 401) signOut(err.message);
      throw err;
    } finally {
      loads.delete(touched);
      ui.loading.hidden = true;
    }
  }

  function further(a, b) {
    // Approvals and escalations only grow while an item is pending.
    const count = (x) => (Array.isArray(x.approvals) ? x.approvals.length : 0);
    return count(a) > count(b) || (a.escalations || 0) > (b.escalations || 0);
  }

  function apply(item) {
    const id = item.review_id;
    for (const touched of loads) touched.add(id);
    if (item.status !== "pending") {
      settled.add(id);
      if (items.delete(id)) {
        const how = item.status === "released" ? "approved and released" : "rejected";
        announce(`The review of task ${item.task_id} was ${how}; it left the queue.`);
      }
    } else if (!settled.has(id)) {
      items.set(id, item);
    }
  }

  function onReview(event) {
    let item;
    try {
      item = JSON.parse(event.data);
    } catch (err) {
      return;
    }
    if (!item || typeof item.review_id !== "string") return;
    apply(item);
    render();
  }

  function setStreamState(state, text) {
    ui.stream.dataset.state = state;
    ui.stream.textContent = text;
  }

  function closeStream() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (stream) stream.close();
    stream = null;
  }

  function openStream() {
    closeStream();
    setStreamState("connecting", "Connecting…");
    const source = new EventSource(`v1/reviews/stream?access_token=${encodeURIComponent(token)}`);
    stream = source;
    source.addEventListener("open", () => {
      if (stream !== source) return;
      retryDelay = 1000;
      setStreamState("live", "Live");
      // Anything that changed while the stream was down: the stream is subscribed, so
      // nothing can fall between this list and the next event.
      loadList().catch(() => {});
    });
    source.addEventListener("review", (event) => {
      if (stream === source) onReview(event);
    });
    source.addEventListener("error", () => {
      if (stream !== source) return;
      if (source.readyState === EventSource.CONNECTING) {
        setStreamState("connecting", "Reconnecting…");
        return;
      }
      // Closed for good (an error status): find out why, then try again later.
      source.close();
      const seconds = Math.round(retryDelay / 1000);
      setStreamState("down", `Disconnected; retrying in ${seconds} s`);
      loadList().catch(() => {});
      retryTimer = setTimeout(() => {
        if (token) openStream();
      }, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    });
  }

  // ---- rendering ---------------------------------------------------------------------------

  function renderCount() {
    ui.count.textContent = String(items.size);
    ui.empty.hidden = items.size !== 0;
  }

  function render() {
    for (const id of [...cards.keys()]) {
      if (!items.has(id)) removeCard(id);
    }
    const ordered = [...items.values()].sort((a, b) =>
      a.requested_at < b.requested_at ? -1 : a.requested_at > b.requested_at ? 1 : 0,
    );
    let previous = null;
    for (const item of ordered) {
      let card = cards.get(item.review_id);
      if (!card) {
        card = createCard(item);
        cards.set(item.review_id, card);
      } else {
        updateCard(card, item);
      }
      const wanted = previous ? previous.nextSibling : ui.list.firstChild;
      if (wanted !== card.root) ui.list.insertBefore(card.root, wanted);
      previous = card.root;
    }
    renderCount();
  }

  function removeCard(id) {
    const card = cards.get(id);
    if (card) card.root.remove();
    cards.delete(id);
  }

  function when(iso) {
    if (!iso) return el("span", { class: "none", text: "none" });
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return el("span", { text: iso });
    return el(
      "time",
      { datetime: iso, title: iso, "data-relative": iso },
      `${date.toLocaleString()} (${relative(date)})`,
    );
  }

  function relative(date) {
    const seconds = (date.getTime() - Date.now()) / 1000;
    const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    const units = [
      ["day", 86400],
      ["hour", 3600],
      ["minute", 60],
    ];
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
    }
    return format.format(Math.round(seconds), "second");
  }

  function pretty(payloadJson) {
    try {
      return { text: JSON.stringify(JSON.parse(payloadJson), null, 2), json: true };
    } catch (err) {
      return { text: payloadJson, json: false };
    }
  }

  function detailRow(label, testid, ...value) {
    return [el("dt", { text: label }), el("dd", { testid }, ...value)];
  }

  function buildDetails(item) {
    const approvals = Array.isArray(item.approvals) ? item.approvals : [];
    const tools = Array.isArray(item.tools_called) ? item.tools_called : [];
    const refusals = Array.isArray(item.refusals) ? item.refusals : [];
    const expired = item.expires_at && new Date(item.expires_at).getTime() < Date.now();
    const rows = [
      ...detailRow("Task", "item-task-id", el("code", { text: item.task_id })),
      ...detailRow("Agent", "item-agent", item.agent),
      ...detailRow("Kind", "item-kind", el("code", { text: item.kind })),
      ...detailRow(
        "Approvals",
        "item-approvals",
        `${approvals.length} of ${item.required_approvals}`,
        approvals.length ? ` (${approvals.join(", ")})` : "",
      ),
      ...detailRow(
        "Tools called",
        "item-tools",
        tools.length
          ? el("ul", { class: "tools" }, ...tools.map((t) => el("li", {}, el("code", { text: t }))))
          : el("span", { class: "none", text: "none so far" }),
      ),
      ...detailRow(
        "Cost so far",
        "item-cost",
        item.cost_so_far_usd === null || item.cost_so_far_usd === undefined
          ? el("span", { class: "none", text: "not recorded" })
          : `$${item.cost_so_far_usd}`,
      ),
      ...detailRow(
        "Task used",
        "item-task-usage",
        item.task_usage
          ? el("span", { text: item.task_usage })
          : el("span", { class: "none", text: "not recorded" }),
      ),
      ...(item.approval_blocked
        ? detailRow(
            "Approving",
            "item-approval-blocked",
            el("strong", { class: "expired", text: item.approval_blocked }),
          )
        : []),
      // Decisions the supervisor did not count (a budget approval that could not let the
      // work go on, an unsigned or forged decision): the item stays pending.
      ...(refusals.length
        ? detailRow(
            "Refused",
            "item-refusals",
            el(
              "ul",
              { class: "refusals" },
              ...refusals.map((r) =>
                el(
                  "li",
                  {},
                  el("strong", { class: "expired", text: `${r.decision} by ${r.reviewer}` }),
                  `: ${r.why}`,
                ),
              ),
            ),
          )
        : []),
      ...detailRow(
        "Trace",
        "item-trace-id",
        item.trace_id ? el("code", { text: item.trace_id }) : el("span", { class: "none", text: "none" }),
      ),
      ...detailRow("Requested", "item-requested-at", when(item.requested_at)),
      ...detailRow(
        "Expires",
        "item-expires-at",
        when(item.expires_at),
        expired ? el("strong", { class: "expired", text: " expired" }) : null,
        item.escalations ? ` — escalated ${item.escalations}×` : "",
      ),
      ...detailRow("Review", "item-review-id", el("code", { text: item.review_id })),
    ];
    return el("dl", { class: "details", testid: "item-details" }, ...rows);
  }

  function buildPayload(item) {
    const shown = pretty(item.payload_json);
    return el(
      "div",
      { class: "payload" },
      el("h4", { text: shown.json ? "Input (JSON)" : "Input (not JSON: shown as received)" }),
      el("pre", { testid: "item-payload", tabindex: "0", "aria-label": "Input payload" }, shown.text),
      el(
        "p",
        { class: "hash" },
        "SHA-256 of what is shown: ",
        el("code", { testid: "item-sha256", text: item.shown_sha256 }),
      ),
    );
  }

  function createCard(item) {
    const n = ++cardSeq;
    const heading = el("h3", { id: `r${n}-h` });
    const summary = el("p", { class: "reason", testid: "item-reason" });
    const detailsSlot = el("div", { class: "details-slot" });
    const payloadSlot = el("div", { class: "payload-slot" });
    const warning = el("p", { class: "warning", testid: "item-warning", role: "alert", hidden: true });

    // The supervisor applies an edit to the parked step's input, but a held tool call shows
    // the call ({tool, arguments}): an edit of what is shown would not fit and the work would
    // be rejected. So a tool call is approved or rejected as shown.
    const noEdit = item.kind === "tool_call";
    const radios = CHOICES.map(([value, label, hint]) => {
      const off = noEdit && value === "approve_edited";
      const input = el("input", {
        type: "radio",
        name: `r${n}-decision`,
        value,
        id: `r${n}-${value}`,
        testid: `choice-${value}`,
        disabled: off,
        "aria-describedby": off ? `r${n}-noedit` : null,
      });
      const wrap = el(
        "div",
        { class: `choice choice-${value}` },
        input,
        el(
          "label",
          { for: `r${n}-${value}` },
          el("strong", { text: label }),
          el("span", { class: "hint", text: ` — ${hint}` }),
        ),
        off
          ? el("span", {
              id: `r${n}-noedit`,
              class: "hint unavailable",
              testid: "edit-unavailable",
              text: "(not for a held tool call: approve or reject it as shown)",
            })
          : null,
      );
      return { input, wrap };
    });
    const edited = el("textarea", {
      id: `r${n}-edited`,
      testid: "edited-payload",
      rows: "8",
      spellcheck: "false",
      "aria-describedby": `r${n}-edited-error`,
    });
    const editedError = el("p", { id: `r${n}-edited-error`, class: "field-error", testid: "edited-payload-error" });
    const editBox = el(
      "div",
      { class: "edit", hidden: true },
      el("label", { for: `r${n}-edited`, text: "Edited payload (JSON object, released instead of the one shown)" }),
      edited,
      editedError,
    );
    const reason = el("textarea", {
      id: `r${n}-reason`,
      testid: "decision-reason",
      rows: "2",
      maxlength: "4000",
      required: true,
      "aria-required": "true",
    });
    const submit = el("button", { type: "submit", testid: "decision-submit", disabled: true, text: "Submit decision" });
    const status = el("p", { class: "status", testid: "decision-status", role: "status", "aria-live": "polite" });
    const fieldset = el(
      "fieldset",
      {},
      el("legend", { text: "Your decision (required; nothing is chosen for you)" }),
      ...radios.map((r) => r.wrap),
    );
    const form = el(
      "form",
      { testid: "decision-form", novalidate: true, "aria-labelledby": `r${n}-h` },
      fieldset,
      editBox,
      el("label", { for: `r${n}-reason`, text: "Reason (required; recorded with your decision)" }),
      reason,
      el("div", { class: "buttons" }, submit),
      status,
    );
    const root = el(
      "article",
      { class: "review", testid: "review-item", "aria-labelledby": `r${n}-h` },
      el("header", {}, heading),
      summary,
      warning,
      el("div", { class: "columns" }, detailsSlot, payloadSlot),
      form,
    );
    const card = {
      root, heading, summary, detailsSlot, payloadSlot, warning, radios, edited, editedError,
      editBox, reason, submit, status, form, fieldset, item: null, busy: false, verified: null, receipt: null, decisionId: null,
    };

    for (const r of radios) r.input.addEventListener("change", () => validate(card));
    edited.addEventListener("input", () => validate(card));
    reason.addEventListener("input", () => validate(card));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      decide(card);
    });
    updateCard(card, item);
    return card;
  }

  function updateCard(card, item) {
    const previous = card.item;
    card.item = item;
    card.root.dataset.reviewId = item.review_id;
    card.root.dataset.taskId = item.task_id;
    card.heading.textContent = `${KINDS[item.kind] || item.kind} by ${item.agent}`;
    card.summary.replaceChildren(el("strong", { text: "Why it was parked: " }), item.reason);
    card.detailsSlot.replaceChildren(buildDetails(item));
    if (!previous || previous.shown_sha256 !== item.shown_sha256) {
      card.payloadSlot.replaceChildren(buildPayload(item));
      card.edited.value = pretty(item.payload_json).text;
      card.verified = null;
      verify(card, item);
      if (previous) {
        // What the reviewer looked at changed: they must look again and choose again.
        for (const r of card.radios) r.input.checked = false;
        card.warning.textContent = "The parked payload changed while it was shown. Review it again before deciding.";
        card.warning.hidden = false;
      }
    }
    const refused = (item.refusals || []).find((r) => r.decision_id === card.decisionId);
    if (refused && decided.has(item.review_id)) {
      // The supervisor did not count this page's decision: the item is open again.
      decided.delete(item.review_id);
      sessionStorage.setItem(DECIDED_KEY, JSON.stringify([...decided]));
      card.fieldset.disabled = false;
      card.reason.disabled = false;
      card.edited.disabled = false;
      card.status.textContent = `The supervisor refused your ${refused.decision}: ${refused.why}`;
      card.status.classList.add("error");
    }
    if (decided.has(item.review_id)) {
      card.fieldset.disabled = true;
      card.reason.disabled = true;
      card.edited.disabled = true;
      showDecided(card);
    }
    validate(card);
  }

  function showDecided(card) {
    const item = card.item;
    const approvals = Array.isArray(item.approvals) ? item.approvals.length : 0;
    const next =
      approvals < item.required_approvals
        ? "Waiting for more reviewers."
        : "Waiting for the supervisor to act on it; it then leaves the queue.";
    card.status.classList.remove("error");
    card.status.textContent =
      `${card.receipt || "You decided this review."} ` +
      `Approvals so far: ${approvals} of ${item.required_approvals}. ${next}`;
  }

  async function verify(card, item) {
    // The hash the decision will carry must be the hash of what is on screen.
    if (!window.crypto || !window.crypto.subtle) return; // not a secure context: the server checks
    try {
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(item.payload_json));
      const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
      if (card.item !== item && card.item.shown_sha256 !== item.shown_sha256) return;
      card.verified = hex === item.shown_sha256;
      if (!card.verified) {
        card.warning.textContent =
          "The payload shown does not match its SHA-256 from the gateway; deciding is disabled. Reload the page.";
        card.warning.hidden = false;
      }
    } catch (err) {
      card.verified = null;
    }
    validate(card);
  }

  function chosen(card) {
    const r = card.radios.find((x) => x.input.checked);
    return r ? r.input.value : null;
  }

  function editedPayload(card) {
    let value;
    try {
      value = JSON.parse(card.edited.value);
    } catch (err) {
      return { error: `Not valid JSON: ${err.message}` };
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return { error: "The edited payload must be a JSON object ({ … })." };
    }
    return { value };
  }

  function validate(card) {
    const choice = chosen(card);
    card.editBox.hidden = choice !== "approve_edited";
    let ok = choice !== null && card.reason.value.trim() !== "";
    if (choice === "approve_edited") {
      const parsed = editedPayload(card);
      card.editedError.textContent = parsed.error || "";
      card.edited.setAttribute("aria-invalid", parsed.error ? "true" : "false");
      ok = ok && !parsed.error;
    } else {
      card.editedError.textContent = "";
      card.edited.removeAttribute("aria-invalid");
    }
    ok = ok && card.verified !== false && !card.busy && !decided.has(card.item.review_id);
    card.submit.disabled = !ok;
    return ok;
  }

  async function decide(card) {
    if (!validate(card)) return;
    const item = card.item;
    const choice = chosen(card);
    const body = {
      decision: choice,
      reason: card.reason.value.trim(),
      shown_sha256: item.shown_sha256,
    };
    if (choice === "approve_edited") body.edited_payload = editedPayload(card).value;
    card.busy = true;
    card.fieldset.disabled = true;
    card.status.textContent = "Sending…";
    card.status.classList.remove("error");
    validate(card);
    try {
      const out = await api("POST", `v1/reviews/${encodeURIComponent(item.review_id)}/decisions`, body);
      decided.add(item.review_id);
      sessionStorage.setItem(DECIDED_KEY, JSON.stringify([...decided]));
      card.decisionId = out.decision_id;
      card.reason.disabled = true;
      card.edited.disabled = true;
      card.receipt = `Recorded: ${out.decision} by ${out.reviewer}, signed (key ${out.key_id || "none"}).`;
      card.warning.hidden = true;
      showDecided(card);
    } catch (err) {
      card.fieldset.disabled = false;
      card.status.textContent = err.message;
      card.status.classList.add("error");
      if (err.status === 401) signOut(err.message);
      else if (err.status === 409) loadList().catch(() => {});
    } finally {
      card.busy = false;
      validate(card);
    }
  }

  setInterval(() => {
    for (const node of document.querySelectorAll("time[data-relative]")) {
      const date = new Date(node.dataset.relative);
      node.textContent = `${date.toLocaleString()} (${relative(date)})`;
    }
  }, 30000);

  // ---- the emergency stop ------------------------------------------------------------------

  let pendingAction = null;

  function killValidate() {
    const ok = ui.killReason.value.trim() !== "";
    ui.pauseAll.disabled = !ok;
    ui.resumeAll.disabled = !ok;
  }

  function askToConfirm(action) {
    pendingAction = action;
    const reason = ui.killReason.value.trim();
    const heading = byTestId("kill-confirm", document).querySelector("h3");
    const yes = byTestId("kill-confirm-yes");
    if (action === "pause") {
      heading.textContent = "Pause everything?";
      byTestId("kill-confirm", document).querySelector("#kill-confirm-text").textContent =
        "Every agent of every tenant stops before its next LLM or tool call, until someone resumes.";
      yes.textContent = "Yes, pause everything";
      yes.className = "danger";
    } else {
      heading.textContent = "Resume everything?";
      byTestId("kill-confirm", document).querySelector("#kill-confirm-text").textContent =
        "Lifts the global pause: agents carry on with held work.";
      yes.textContent = "Yes, resume everything";
      yes.className = "";
    }
    byTestId("kill-confirm-reason").textContent = `Reason: ${reason}`;
    ui.confirm.returnValue = "";
    ui.confirm.showModal();
  }

  ui.killReason.addEventListener("input", killValidate);
  ui.pauseAll.addEventListener("click", () => askToConfirm("pause"));
  ui.resumeAll.addEventListener("click", () => askToConfirm("resume"));
  ui.confirm.addEventListener("close", async () => {
    const action = pendingAction;
    pendingAction = null;
    if (ui.confirm.returnValue !== "confirm" || !action) return;
    const reason = ui.killReason.value.trim();
    if (!reason) return;
    ui.killStatus.textContent = action === "pause" ? "Pausing everything…" : "Resuming…";
    ui.killStatus.classList.remove("error");
    try {
      const command = await api("POST", "v1/control", { scope: "global", target: "*", action, reason });
      const what = action === "pause" ? "Everything is paused" : "The global pause is lifted";
      ui.killStatus.textContent = `${what} (command ${command.command_id}, by ${command.issued_by}).`;
      ui.kill.dataset.state = action === "pause" ? "paused" : "running";
      ui.killReason.value = "";
      killValidate();
    } catch (err) {
      ui.killStatus.textContent = err.message;
      ui.killStatus.classList.add("error");
      if (err.status === 401) signOut(err.message);
    }
  });

  // ---- start -------------------------------------------------------------------------------

  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else showLogin("");
})();
