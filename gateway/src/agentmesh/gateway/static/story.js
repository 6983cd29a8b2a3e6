// A task's story on the page, as a waterfall: one row per step (an input an agent handled),
// indented by where it came from, its bar placed by when it ran; a row opens to the model
// and tool exchanges recorded for it. Then the supervisor's decisions about the task.
// It follows the page's session (app.js) and needs the auditor or admin role (recordings
// can hold personal data). Every value is rendered with textContent, never as HTML.
"use strict";

(() => {
  const { TOKEN_KEY, byTestId, el } = window.agentmeshPage;
  const ui = {
    session: byTestId("session"),
    section: byTestId("story"),
    form: byTestId("story-form"),
    task: byTestId("story-task"),
    status: byTestId("story-status"),
    chart: byTestId("story-chart"),
    decisions: byTestId("story-decisions"),
  };
  if (!ui.section || !ui.session) return;

  async function fetchStory(taskId) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    let response;
    try {
      response = await fetch(`/v1/tasks/${encodeURIComponent(taskId)}/story`, {
        headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
        cache: "no-store",
      });
    } catch (err) {
      throw new Error("Cannot reach the gateway (network error). Is it running?");
    }
    if (response.status === 403) {
      throw new Error("Your token may not read this: a task's story needs the auditor or admin role.");
    }
    if (response.status === 404) throw new Error(`Nothing is recorded for task ${taskId}.`);
    if (!response.ok) throw new Error(`${response.status}: ${(await response.text()).slice(0, 200)}`);
    return response.json();
  }

  // Depth-first, so a step's row comes right above the steps that handled what it handed on.
  function flatten(steps, depth = 0, rows = []) {
    for (const step of steps) {
      rows.push({ step, depth });
      flatten(step.children || [], depth + 1, rows);
    }
    return rows;
  }

  function seconds(ms) {
    return ms === null || ms === undefined ? "?" : `${(ms / 1000).toFixed(2)} s`;
  }

  function callLine(call) {
    const what = call.kind === "tool_call" ? call.target : `${call.target}/${call.model}`;
    const prompt = call.prompt ? ` prompt ${call.prompt}` : "";
    const asked = JSON.stringify(call.request);
    const answered = JSON.stringify(call.response);
    const text = `${call.kind.replace("_", " ")} ${what}${prompt} ${call.status}: asked ${asked} → ${answered}`;
    return el("li", { "data-testid": "story-call" }, text.length > 400 ? `${text.slice(0, 400)}…` : text);
  }

  function row({ step, depth }, start, span) {
    const begin = step.started_at ? Date.parse(step.started_at) : start;
    const end = step.finished_at ? Date.parse(step.finished_at) : begin;
    const bar = el("div", { class: "bar", "aria-hidden": "true" });
    bar.style.marginLeft = `${((begin - start) / span) * 100}%`;
    bar.style.width = `${Math.max(0.5, ((end - begin) / span) * 100)}%`;
    const label = el("span", { class: "step-label" });
    label.style.paddingLeft = `${depth * 1.2}em`;
    label.textContent = step.agent || "?";
    const facts = `${step.outcome || "not finished"} · ${seconds(step.duration_ms)} · ${step.tokens} tokens · $${step.cost_usd}`;
    const calls = el("ul", { class: "calls", hidden: "" }, ...(step.calls || []).map(callLine));
    const button = el("button", { type: "button", class: "step", "aria-expanded": "false" },
      label, el("span", { class: "track" }, bar), el("span", { class: "facts" }, facts));
    button.addEventListener("click", () => {
      calls.hidden = !calls.hidden;
      button.setAttribute("aria-expanded", String(!calls.hidden));
    });
    return el("li", { "data-testid": "story-step", "data-agent": step.agent || "" }, button, calls);
  }

  function render(story) {
    const rows = flatten(story.steps || []);
    const times = rows.flatMap(({ step }) => [step.started_at, step.finished_at])
      .filter(Boolean).map((t) => Date.parse(t));
    const start = times.length ? Math.min(...times) : 0;
    const span = Math.max(1, (times.length ? Math.max(...times) : 0) - start);
    ui.chart.replaceChildren(...rows.map((r) => row(r, start, span)));
    ui.decisions.replaceChildren(...(story.decisions || []).map((d) => el(
      "li", { "data-testid": "story-decision" },
      `${new Date(d.at).toLocaleTimeString()} ${d.decision} ${d.subject} (audit ${d.audit.chain}#${d.audit.seq})`,
    )));
    ui.status.textContent = `${rows.length} steps, ${story.tokens} tokens, $${story.cost_usd}.`;
  }

  ui.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const taskId = ui.task.value.trim();
    if (!taskId) {
      ui.status.textContent = "Enter a task id.";
      return;
    }
    ui.status.textContent = "Loading…";
    try {
      render(await fetchStory(taskId));
    } catch (err) {
      ui.chart.replaceChildren();
      ui.decisions.replaceChildren();
      ui.status.textContent = err.message;
    }
  });

  function follow() {
    ui.section.hidden = ui.session.hidden;
  }
  follow();
  new MutationObserver(follow).observe(ui.session, { attributes: true, attributeFilter: ["hidden"] });
})();
