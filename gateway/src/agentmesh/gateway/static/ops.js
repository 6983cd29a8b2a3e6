// The operations overview: tasks in flight with their budget use as bars, breakers, and USD
// spent per tenant per minute as a chart, kept live over Server-Sent Events. A task's row
// opens its story (story.js) below. It follows the page's session (app.js) and needs the
// reviewer, auditor or admin role. Every value is rendered with textContent, never as HTML.
"use strict";

(() => {
  const { TOKEN_KEY, byTestId, el } = window.agentmeshPage;
  const ui = {
    session: byTestId("session"),
    section: byTestId("ops"),
    status: byTestId("ops-status"),
    live: byTestId("ops-live"),
    completed: byTestId("ops-completed"),
    failed: byTestId("ops-failed"),
    tasks: byTestId("ops-tasks"),
    breakers: byTestId("ops-breakers"),
    chart: byTestId("ops-spend"),
    legend: byTestId("ops-spend-legend"),
    storyTask: byTestId("story-task"),
    storyForm: byTestId("story-form"),
  };
  if (!ui.section || !ui.session) return;

  const SVG = "http://www.w3.org/2000/svg";
  const COLOURS = ["#1f5fbf", "#c2410c", "#1b7a3d", "#7c3aed", "#b3261e", "#0e7490", "#a16207"];
  const FIGURES = [["steps", "steps"], ["tokens", "tokens"], ["cost_usd", "USD"]];
  const tasks = new Map();
  let source = null;

  async function fetchOverview() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    let response;
    try {
      response = await fetch("v1/ops/overview", {
        headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
        cache: "no-store",
      });
    } catch (err) {
      throw new Error("Cannot reach the gateway (network error). Is it running?");
    }
    if (response.status === 403) throw new Error("Your token may not see the overview (needs the reviewer, auditor or admin role).");
    if (!response.ok) throw new Error(`${response.status}: ${(await response.text()).slice(0, 200)}`);
    return response.json();
  }

  // One bar per figure: how much of the task's limit it used (no limit: the figure alone).
  function bar(name, unit, figure) {
    const over = figure.share !== null && figure.share >= 1;
    const label = figure.limit === null ? `${figure.used} ${unit}` : `${figure.used} / ${figure.limit} ${unit}`;
    const fill = el("span", { class: "fill" });
    fill.style.width = figure.share === null ? "0" : `${Math.min(figure.share, 1) * 100}%`;
    const meter = el("span", {
      class: over ? "meter over" : "meter",
      role: "meter",
      "aria-label": `${name}: ${label}`,
      "aria-valuemin": "0",
      "aria-valuemax": "1",
      "aria-valuenow": String(figure.share === null ? 0 : Math.min(figure.share, 1)),
      "data-testid": `ops-bar-${name}`,
      "data-share": figure.share === null ? "" : String(figure.share),
    }, fill);
    return el("div", { class: "figure" }, meter, el("span", { class: "help" }, label));
  }

  function row(task) {
    const open = el("button", { type: "button", class: "link", "data-testid": "ops-open-story", title: "Show this task's story below" }, task.task_id);
    open.addEventListener("click", () => showStory(task.task_id));
    // Parked work waits for a person (see Pending reviews); a stopped task was halted.
    const state = task.parked ? "parked" : task.status;
    const status = task.parked
      ? `parked for review (${task.parked})`
      : task.status === "stopped" ? `stopped: ${task.stopped_for || "halted"}` : "running";
    return el("tr", { "data-testid": "ops-task", "data-task-id": task.task_id, "data-status": state },
      el("td", {}, open, el("div", { class: "help" }, `${task.tenant} · ${task.agent || "?"}`)),
      el("td", { class: state === "running" ? "" : "warn" }, status),
      ...FIGURES.map(([key, unit]) => el("td", {}, bar(key, unit, task[key]))));
  }

  function showStory(taskId) {
    if (!ui.storyForm || !ui.storyTask) return;
    ui.storyTask.value = taskId;
    ui.storyForm.requestSubmit();
    byTestId("story").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function drawTasks() {
    const sorted = [...tasks.values()].sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1)).slice(0, 200);
    ui.tasks.replaceChildren(...sorted.map(row));
    if (!sorted.length) {
      ui.tasks.replaceChildren(el("tr", {}, el("td", { colspan: "5", class: "help", "data-testid": "ops-no-tasks" }, "No task is in flight.")));
    }
  }

  function drawBreakers(breakers) {
    if (!breakers.length) {
      ui.breakers.replaceChildren(el("li", { class: "help", "data-testid": "ops-no-breakers" }, "No breaker has tripped."));
      return;
    }
    ui.breakers.replaceChildren(...breakers.map((b) => el("li", { "data-testid": "ops-breaker", "data-key": b.key, "data-state": b.state },
      el("span", { class: `badge ${b.state}` }, b.state.replace("_", "-")), " ",
      el("strong", {}, b.key), el("span", { class: "help" }, ` since ${b.since}: ${b.reason}`))));
  }

  // Stacked bars: one column per minute, a segment per tenant, scaled to the busiest minute.
  function drawSpend(spend) {
    const tenants = Object.keys(spend.tenants);
    const width = 600, height = 160, pad = 4;
    const minutes = tenants.length ? spend.tenants[tenants[0]].length : 60;
    const totals = Array.from({ length: minutes }, (_, i) => tenants.reduce((s, t) => s + Number(spend.tenants[t][i]), 0));
    const peak = Math.max(...totals, 0);
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    const sum = totals.reduce((a, b) => a + b, 0);
    svg.setAttribute("aria-label", `USD per minute over the last hour, by tenant; ${sum.toFixed(6)} USD in all`);
    const axis = document.createElementNS(SVG, "line");
    for (const [k, v] of Object.entries({ x1: 0, y1: height - 1, x2: width, y2: height - 1, class: "axis" })) axis.setAttribute(k, String(v));
    svg.append(axis);
    const colWidth = width / minutes;
    for (let i = 0; i < minutes && peak > 0; i += 1) {
      let y = height - 1;
      tenants.forEach((tenant, n) => {
        const usd = Number(spend.tenants[tenant][i]);
        if (usd <= 0) return;
        const h = Math.max(((height - pad) * usd) / peak, 1);
        const rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("x", String(i * colWidth + 1));
        rect.setAttribute("y", String(y - h));
        rect.setAttribute("width", String(Math.max(colWidth - 2, 1)));
        rect.setAttribute("height", String(h));
        rect.setAttribute("fill", COLOURS[n % COLOURS.length]);
        rect.setAttribute("data-tenant", tenant);
        rect.setAttribute("data-testid", "ops-spend-bar");
        const title = document.createElementNS(SVG, "title");
        title.textContent = `${tenant}: ${usd.toFixed(6)} USD`;
        rect.append(title);
        svg.append(rect);
        y -= h;
      });
    }
    const scale = el("p", { class: "help scale" },
      el("span", {}, `${minutes} minutes ago`),
      el("span", {}, peak > 0 ? `busiest minute: ${peak.toFixed(6)} USD` : "no spend"),
      el("span", {}, "now"));
    ui.chart.replaceChildren(svg, scale);
    ui.legend.replaceChildren(...tenants.map((tenant, n) => {
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = COLOURS[n % COLOURS.length];
      const total = spend.tenants[tenant].reduce((s, v) => s + Number(v), 0);
      return el("li", { "data-testid": "ops-tenant", "data-tenant": tenant }, swatch, `${tenant}: ${total.toFixed(6)} USD`);
    }));
    if (!tenants.length) ui.legend.replaceChildren(el("li", { class: "help" }, "Nothing spent in the last hour."));
  }

  function counts(data) {
    ui.live.textContent = String(data.live);
    ui.completed.textContent = String(data.completed);
    ui.failed.textContent = String(data.failed);
  }

  function apply(change) {
    for (const task of change.tasks || []) tasks.set(task.task_id, task);
    for (const id of change.removed || []) tasks.delete(id);
    counts(change);
    drawTasks();
    if (change.breakers) drawBreakers(change.breakers);
    if (change.spend) drawSpend(change.spend);
  }

  async function start() {
    ui.status.textContent = "Loading…";
    try {
      const data = await fetchOverview();
      tasks.clear();
      apply({ ...data, removed: [] });
      ui.status.textContent = "";
    } catch (err) {
      ui.status.textContent = err.message;
      return;
    }
    const token = sessionStorage.getItem(TOKEN_KEY);
    source = new EventSource(`v1/ops/stream?access_token=${encodeURIComponent(token)}`);
    source.addEventListener("ops", (event) => apply(JSON.parse(event.data)));
    source.addEventListener("open", () => { ui.section.dataset.stream = "live"; });
    source.addEventListener("error", () => { ui.section.dataset.stream = "reconnecting"; });
  }

  function stop() {
    if (source) source.close();
    source = null;
    tasks.clear();
    ui.tasks.replaceChildren();
  }

  // Shown exactly while the page has a session.
  const follow = () => {
    const signedIn = !ui.session.hidden;
    if (signedIn === !ui.section.hidden) return;
    ui.section.hidden = !signedIn;
    if (signedIn) start();
    else stop();
  };
  new MutationObserver(follow).observe(ui.session, { attributes: true, attributeFilter: ["hidden"] });
  follow();
})();
