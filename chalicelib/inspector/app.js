// The inspector: threads, messages, runs and steps, read through the public API with the key
// the user enters. No library, no build step. Everything shown is set as text (never as HTML),
// so nothing a message or a tool call contains can run here.
"use strict";

(() => {
  // The API lives beside the page: /v1 locally (page at / or /inspector), <stage>/v1 deployed.
  const API_BASE = new URL("v1/", location.href);
  const KEY_STORAGE = "inspector.apiKey"; // sessionStorage only: gone when the tab closes
  const RECENT_PREFIX = "inspector.recent."; // + a fingerprint of the key, in localStorage
  const RECENT_MAX = 15;
  const PAGE_LIMIT = 100;
  const MAX_PAGES = 20; // at most 2,000 messages / runs / steps shown
  const DEFAULT_POLL_MS = 1000; // when the server sends no openai-poll-after-ms
  const MIN_POLL_MS = 50;
  const MAX_POLL_MS = 30000;
  const ACTIVE = new Set(["queued", "in_progress", "requires_action", "cancelling"]);
  const CANCELLABLE = new Set(["queued", "in_progress", "requires_action"]);

  const $ = (id) => document.getElementById(id);

  const state = {
    key: null,
    fingerprint: null,
    threadId: null,
    runId: null,
    messages: new Map(), // id -> message, to show a message_creation step's text
    pollTimer: null,
    pollMs: DEFAULT_POLL_MS,
    view: 0, // bumped whenever the view changes: answers for an older view are dropped
    runSignature: "",
  };

  // ---- the API ---------------------------------------------------------------------------

  class ApiFailure extends Error {
    constructor(status, error) {
      super(error.message);
      this.status = status;
      this.error = error;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${state.key}`, "OpenAI-Beta": "assistants=v2" };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(new URL(path, API_BASE), init);
    } catch (error) {
      throw new ApiFailure(0, { message: `Could not reach the API (${error.message}).` });
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const apiError = data && data.error && typeof data.error.message === "string";
      throw new ApiFailure(
        response.status,
        apiError
          ? data.error
          : { message: `HTTP ${response.status} ${response.statusText}: ${text.slice(0, 300)}` },
      );
    }
    const hint = Number.parseInt(response.headers.get("openai-poll-after-ms") || "", 10);
    return { data, pollAfterMs: Number.isFinite(hint) ? hint : null };
  }

  async function listAll(path) {
    const items = [];
    let after = null;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const query = new URLSearchParams({ order: "asc", limit: String(PAGE_LIMIT) });
      if (after) query.set("after", after);
      const { data } = await api("GET", `${path}?${query}`);
      items.push(...data.data);
      if (!data.has_more || !data.last_id) return items;
      after = data.last_id;
    }
    return items;
  }

  const id = encodeURIComponent;
  const threadPath = (threadId) => `threads/${id(threadId)}`;
  const runPath = (threadId, runId) => `${threadPath(threadId)}/runs/${id(runId)}`;

  // ---- small DOM helpers -----------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "style") Object.assign(node.style, value); // CSSOM: allowed by the CSP
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function time(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    return `${new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ")} UTC`;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
    if (seconds < 60) return `${seconds} s`;
    return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  }

  // Tool-call arguments and outputs are strings that usually hold JSON: show it indented.
  function pretty(value) {
    if (value === null || value === undefined) return null;
    if (typeof value !== "string") return JSON.stringify(value, null, 2);
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }

  function code(value, cls) {
    return el("pre", { class: cls ? `code ${cls}` : "code" }, value);
  }

  function badge(status) {
    return el("span", { class: `badge status-${status}`, dataset: { status } }, status);
  }

  function fields(rows) {
    const list = el("dl", { class: "fields" });
    for (const [name, value, cls] of rows) {
      if (value === undefined) continue;
      list.append(el("dt", {}, name), el("dd", { class: cls }, value === null ? "–" : value));
    }
    return list;
  }

  function metadataView(metadata) {
    const entries = Object.entries(metadata || {});
    if (!entries.length) return null;
    return el(
      "table",
      { class: "metadata" },
      el("caption", {}, "metadata"),
      entries.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))),
    );
  }

  function rawView(label, object) {
    return el("details", { class: "raw" }, el("summary", {}, label), code(pretty(object)));
  }

  // ---- errors ----------------------------------------------------------------------------

  function showError(failure) {
    const status = failure instanceof ApiFailure ? failure.status : 0;
    const error = failure instanceof ApiFailure ? failure.error : { message: String(failure) };
    const kind = [error.type, error.code].filter(Boolean).join(", ");
    $("error-title").textContent = status
      ? `Error ${status}${kind ? ` (${kind})` : ""}:`
      : "Error:";
    $("error-message").textContent = error.message;
    $("error").hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error-title").textContent = "";
    $("error-message").textContent = "";
  }

  // ---- the key ---------------------------------------------------------------------------

  async function fingerprintOf(key) {
    if (!crypto.subtle) return null; // not a secure context: recent runs stay in this tab
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
    return Array.from(new Uint8Array(digest).slice(0, 8), (b) => b.toString(16).padStart(2, "0"))
      .join("");
  }

  async function useKey(key) {
    state.key = key;
    state.fingerprint = await fingerprintOf(key);
    sessionStorage.setItem(KEY_STORAGE, key);
    $("key-form").hidden = true;
    $("key-status").hidden = false;
    $("key-label").textContent = `Key ${key.slice(0, 3)}…${key.slice(-4)}`;
    $("main").hidden = false;
    renderRecent();
  }

  function forgetKey() {
    sessionStorage.removeItem(KEY_STORAGE);
    state.key = null;
    state.fingerprint = null;
    leaveThread();
    $("main").hidden = true;
    $("key-status").hidden = true;
    $("key-form").hidden = false;
    $("key-input").value = "";
    clearError();
    history.replaceState(null, "", location.pathname);
  }

  async function submitKey(event) {
    event.preventDefault();
    const key = $("key-input").value.trim();
    clearError();
    state.key = key;
    try {
      await api("GET", "assistants?limit=1"); // the API decides whether the key is good
    } catch (failure) {
      state.key = null;
      showError(failure);
      return;
    }
    $("key-input").value = "";
    await useKey(key);
    route();
  }

  // ---- recently viewed runs --------------------------------------------------------------

  function recentStore() {
    return state.fingerprint ? localStorage : sessionStorage;
  }

  function recentKey() {
    return RECENT_PREFIX + (state.fingerprint || "tab");
  }

  function readRecent() {
    try {
      const list = JSON.parse(recentStore().getItem(recentKey()) || "[]");
      return Array.isArray(list) ? list : [];
    } catch {
      return [];
    }
  }

  function remember(run) {
    const entry = {
      thread_id: run.thread_id,
      run_id: run.id,
      status: run.status,
      model: run.model,
      created_at: run.created_at,
    };
    const list = [entry, ...readRecent().filter((r) => r.run_id !== run.id)].slice(0, RECENT_MAX);
    recentStore().setItem(recentKey(), JSON.stringify(list));
    renderRecent();
  }

  function renderRecent() {
    const list = readRecent();
    $("recent-empty").hidden = list.length > 0;
    $("recent-list").replaceChildren(
      ...list.map((r) =>
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              class: "link recent-run",
              dataset: { runId: r.run_id, threadId: r.thread_id },
              onclick: () => navigate(r.thread_id, r.run_id),
            },
            badge(r.status),
            ` ${r.run_id} `,
            el("span", { class: "muted" }, `${r.model} · ${r.thread_id}`),
          ),
        ),
      ),
    );
  }

  // ---- navigation: #thread=<id>&run=<id> ---------------------------------------------------

  function navigate(threadId, runId) {
    const hash = new URLSearchParams({ thread: threadId });
    if (runId) hash.set("run", runId);
    const target = `#${hash}`;
    if (location.hash === target) route();
    else location.hash = target; // the hashchange event routes
  }

  function route() {
    if (!state.key) return;
    const hash = new URLSearchParams(location.hash.slice(1));
    const threadId = hash.get("thread");
    const runId = hash.get("run");
    if (!threadId) {
      leaveThread();
      return;
    }
    $("thread-input").value = threadId;
    if (threadId === state.threadId && runId) selectRun(runId);
    else openThread(threadId, runId);
  }

  function leaveThread() {
    stopPolling();
    state.view += 1;
    state.threadId = null;
    state.runId = null;
    $("thread-view").hidden = true;
  }

  // ---- a thread --------------------------------------------------------------------------

  async function openThread(threadId, runId) {
    stopPolling();
    clearError();
    const view = ++state.view;
    let thread;
    let messages;
    let runs;
    try {
      [{ data: thread }, messages, runs] = await Promise.all([
        api("GET", threadPath(threadId)),
        listAll(`${threadPath(threadId)}/messages`),
        listAll(`${threadPath(threadId)}/runs`),
      ]);
    } catch (failure) {
      if (view !== state.view) return;
      state.threadId = null;
      $("thread-view").hidden = true;
      showError(failure);
      return;
    }
    if (view !== state.view) return;
    state.threadId = threadId;
    renderThread(thread);
    renderMessages(messages);
    renderRuns(runs);
    $("thread-view").hidden = false;
    const selected = runId || (runs.length ? runs[runs.length - 1].id : null);
    if (selected) selectRun(selected);
    else $("run-view").replaceChildren(el("p", { class: "muted" }, "This thread has no runs."));
  }

  function renderThread(thread) {
    $("thread-header").replaceChildren(
      el("h2", { id: "thread-title" }, "Thread ", el("span", { class: "id" }, thread.id)),
      fields([["created", time(thread.created_at)]]),
      metadataView(thread.metadata),
      rawView("Thread object", thread),
    );
  }

  async function refreshMessages(view) {
    const messages = await listAll(`${threadPath(state.threadId)}/messages`);
    if (view === state.view) renderMessages(messages);
  }

  function renderMessages(messages) {
    state.messages = new Map(messages.map((m) => [m.id, m]));
    const list = $("message-list");
    list.replaceChildren(...messages.map(messageView));
    if (!messages.length) list.append(el("li", { class: "muted" }, "No messages."));
  }

  function messageView(message) {
    const header = el(
      "div",
      { class: "message-header" },
      el("span", { class: `role role-${message.role}` }, message.role),
      el("span", { class: "id" }, message.id),
      el("span", { class: "muted" }, time(message.created_at)),
      message.status && message.status !== "completed" ? badge(message.status) : null,
      message.run_id
        ? el(
            "button",
            {
              type: "button",
              class: "link",
              onclick: () => navigate(message.thread_id, message.run_id),
            },
            message.run_id,
          )
        : null,
    );
    const incomplete = message.incomplete_details
      ? el("p", { class: "warning" }, `incomplete: ${message.incomplete_details.reason}`)
      : null;
    return el(
      "li",
      { class: `message message-${message.role}`, dataset: { messageId: message.id } },
      header,
      (message.content || []).map(contentView),
      incomplete,
      attachmentsView(message.attachments),
      metadataView(message.metadata),
    );
  }

  function contentView(part) {
    if (part.type === "text") {
      const annotations = part.text.annotations || [];
      return el(
        "div",
        { class: "part part-text" },
        el("div", { class: "text" }, part.text.value),
        annotations.length
          ? el("ul", { class: "annotations" }, annotations.map(annotationView))
          : null,
      );
    }
    if (part.type === "image_file") {
      const detail = part.image_file.detail ? ` (detail ${part.image_file.detail})` : "";
      return el("div", { class: "part part-image" }, `Image file ${part.image_file.file_id}${detail}`);
    }
    if (part.type === "image_url") {
      const url = part.image_url.url;
      const safe = /^(https:|data:image\/)/i.test(url);
      return el(
        "figure",
        { class: "part part-image" },
        safe ? el("img", { src: url, alt: "image part", referrerpolicy: "no-referrer" }) : null,
        el("figcaption", {}, `Image URL ${url.length > 120 ? `${url.slice(0, 120)}…` : url}`),
      );
    }
    if (part.type === "refusal") {
      return el("div", { class: "part part-refusal" }, `Refusal: ${part.refusal}`);
    }
    return el("div", { class: "part" }, code(pretty(part)));
  }

  function annotationView(annotation) {
    if (annotation.type === "file_citation") {
      const quote = annotation.file_citation.quote ? ` “${annotation.file_citation.quote}”` : "";
      return el(
        "li",
        { class: "citation" },
        `“${annotation.text}” cites file ${annotation.file_citation.file_id}${quote}`,
      );
    }
    if (annotation.type === "file_path") {
      return el("li", {}, `“${annotation.text}” is file ${annotation.file_path.file_id}`);
    }
    return el("li", {}, code(pretty(annotation)));
  }

  function attachmentsView(attachments) {
    if (!attachments || !attachments.length) return null;
    return el(
      "div",
      { class: "attachments" },
      "Attachments: ",
      el(
        "ul",
        {},
        attachments.map((a) =>
          el(
            "li",
            {},
            `${a.file_id} for ${(a.tools || []).map((t) => t.type).join(", ") || "no tool"}`,
          ),
        ),
      ),
    );
  }

  // ---- runs ------------------------------------------------------------------------------

  function renderRuns(runs) {
    $("run-list").replaceChildren(...runs.map(runListItem));
    if (!runs.length) $("run-list").append(el("li", { class: "muted" }, "No runs."));
    markSelected();
  }

  function runListItem(run) {
    return el(
      "li",
      { dataset: { runId: run.id } },
      el(
        "button",
        {
          type: "button",
          class: "run-item",
          onclick: () => navigate(run.thread_id, run.id),
        },
        badge(run.status),
        el("span", { class: "id" }, run.id),
        el("span", { class: "muted" }, `${run.model} · ${time(run.created_at)}`),
      ),
    );
  }

  function updateRunListItem(run) {
    const item = $("run-list").querySelector(`li[data-run-id="${CSS.escape(run.id)}"]`);
    if (item) item.replaceWith(runListItem(run));
    markSelected();
  }

  function markSelected() {
    for (const item of $("run-list").querySelectorAll("li[data-run-id]")) {
      item.classList.toggle("selected", item.dataset.runId === state.runId);
    }
  }

  async function selectRun(runId) {
    stopPolling();
    clearError();
    const view = ++state.view;
    state.runId = runId;
    markSelected();
    try {
      await loadRun(view, true);
    } catch (failure) {
      if (view !== state.view) return;
      $("run-view").replaceChildren();
      showError(failure);
    }
  }

  // Reads the run; when it changed (or on the first read), its steps too, and re-renders.
  async function loadRun(view, first) {
    const threadId = state.threadId;
    const runId = state.runId;
    const { data: run, pollAfterMs } = await api("GET", runPath(threadId, runId));
    if (view !== state.view) return;
    state.pollMs = Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, pollAfterMs ?? DEFAULT_POLL_MS));
    const signature = JSON.stringify(run);
    if (first || signature !== state.runSignature) {
      const steps = await listAll(`${runPath(threadId, runId)}/steps`);
      if (view !== state.view) return;
      if (!first) await refreshMessages(view); // a finished turn adds messages
      if (view !== state.view) return;
      state.runSignature = signature;
      renderRun(run, steps);
      updateRunListItem(run);
      remember(run);
    }
    if (ACTIVE.has(run.status)) schedulePoll(view);
    else setLive(null);
  }

  function schedulePoll(view) {
    stopPolling();
    setLive(`Live: refreshing every ${state.pollMs} ms (the server's poll hint).`);
    state.pollTimer = setTimeout(() => poll(view), state.pollMs);
  }

  async function poll(view) {
    state.pollTimer = null;
    if (view !== state.view) return;
    if (document.hidden) {
      schedulePoll(view); // a background tab asks nothing until it is looked at again
      return;
    }
    try {
      await loadRun(view, false);
    } catch (failure) {
      if (view !== state.view) return;
      showError(failure);
      // The API answered no (the thread was deleted, the key revoked): stop. Else try again.
      if (failure.status >= 400 && failure.status < 500 && failure.status !== 429) setLive(null);
      else {
        state.pollMs = Math.min(MAX_POLL_MS, state.pollMs * 2);
        schedulePoll(view);
      }
    }
  }

  function stopPolling() {
    if (state.pollTimer !== null) clearTimeout(state.pollTimer);
    state.pollTimer = null;
  }

  function setLive(text) {
    const live = $("live");
    if (!live) return;
    live.hidden = !text;
    live.textContent = text || "";
  }

  function ended(run) {
    if (run.completed_at) return [run.status === "incomplete" ? "incomplete" : "completed", run.completed_at];
    if (run.failed_at) return ["failed", run.failed_at];
    if (run.cancelled_at) return ["cancelled", run.cancelled_at];
    return [run.status, null];
  }

  function timelineView(run) {
    const [endLabel, endAt] = ended(run);
    const now = Math.floor(Date.now() / 1000);
    const started = run.started_at;
    const active = ACTIVE.has(run.status);
    const until = endAt ?? (active ? now : null);
    const wait = started ? started - run.created_at : active ? now - run.created_at : null;
    const work = started && until ? until - started : null;
    const total = Math.max(1, (wait || 0) + (work || 0));
    const bar = el(
      "div",
      { class: "timeline-bar", "aria-hidden": "true" },
      el("span", { class: "segment queue", style: { flexGrow: String(wait || 0) } }),
      el("span", { class: `segment work status-${run.status}`, style: { flexGrow: String(work || 0) } }),
    );
    if (!wait && !work) bar.replaceChildren(el("span", { class: "segment empty", style: { flexGrow: "1" } }));
    const steps = [
      el("li", {}, el("b", {}, "created"), " ", time(run.created_at)),
      el(
        "li",
        {},
        el("b", {}, "started"),
        " ",
        started ? `${time(started)} (+${duration(started - run.created_at)})` : "not yet",
      ),
      el(
        "li",
        {},
        el("b", {}, endAt ? endLabel : active ? "still active" : endLabel),
        " ",
        endAt ? `${time(endAt)} (+${duration(endAt - run.created_at)})` : active ? `expires ${time(run.expires_at)}` : "–",
      ),
    ];
    return el(
      "div",
      { class: "timeline", title: `total ${duration(total)}` },
      el("ol", { class: "timeline-points" }, steps),
      bar,
      fields([
        ["queue wait", duration(wait), "queue-wait"],
        ["run time", duration(work), "run-time"],
      ]),
    );
  }

  function usageText(usage) {
    if (!usage) return null;
    return `${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion = ${usage.total_tokens} tokens`;
  }

  function renderRun(run, steps) {
    const tools = (run.tools || []).map((t) => (t.type === "function" ? t.function.name : t.type));
    $("run-view").replaceChildren(
      el(
        "article",
        { class: "run", dataset: { runId: run.id, status: run.status } },
        el("h3", { id: "run-title" }, "Run ", el("span", { class: "id" }, run.id), " ", badge(run.status)),
        el("p", { id: "live", class: "live", hidden: true }),
        actionsView(run),
        timelineView(run),
        fields([
          ["model", run.model, "run-model"],
          ["assistant", run.assistant_id],
          ["tools", tools.length ? tools.join(", ") : "none"],
          ["usage", usageText(run.usage), "run-usage"],
          [
            "last error",
            run.last_error ? `${run.last_error.code}: ${run.last_error.message}` : null,
            "run-last-error",
          ],
          [
            "incomplete",
            run.incomplete_details ? run.incomplete_details.reason : null,
            "run-incomplete",
          ],
        ]),
        metadataView(run.metadata),
        run.instructions
          ? el("details", { class: "raw" }, el("summary", {}, "Instructions"), code(run.instructions))
          : null,
        el("h4", {}, `Steps (${steps.length})`),
        el("ol", { id: "step-list", class: "steps" }, steps.map(stepView)),
        steps.length ? null : el("p", { class: "muted" }, "No steps yet."),
        rawView("Run object", run),
      ),
    );
  }

  function actionsView(run) {
    const box = el("div", { class: "actions" });
    if (CANCELLABLE.has(run.status)) {
      box.append(
        el(
          "button",
          { type: "button", id: "cancel-run", class: "danger", onclick: () => cancelRun(run) },
          "Cancel run",
        ),
      );
    }
    const calls =
      run.status === "requires_action" && run.required_action
        ? run.required_action.submit_tool_outputs.tool_calls
        : [];
    if (calls.length) {
      const form = el(
        "form",
        { id: "tool-outputs", onsubmit: (event) => submitOutputs(event, run, calls) },
        el("h4", {}, "Requires action: submit tool outputs"),
        calls.map((call) =>
          el(
            "fieldset",
            { class: "tool-output", dataset: { toolCallId: call.id } },
            el("legend", {}, `${call.function.name} `, el("span", { class: "id" }, call.id)),
            code(pretty(call.function.arguments), "arguments"),
            el("label", { for: `output-${call.id}` }, "Output"),
            el("textarea", { id: `output-${call.id}`, name: call.id, rows: 2, required: true }),
          ),
        ),
        el("button", { type: "submit", id: "submit-outputs" }, "Submit tool outputs"),
      );
      box.append(form);
    }
    return box.childNodes.length ? box : null;
  }

  async function cancelRun(run) {
    const view = state.view;
    clearError();
    try {
      await api("POST", `${runPath(run.thread_id, run.id)}/cancel`);
    } catch (failure) {
      showError(failure);
    }
    if (view === state.view) await reloadRun(view);
  }

  async function submitOutputs(event, run, calls) {
    event.preventDefault();
    const view = state.view;
    clearError();
    const form = event.currentTarget;
    const toolOutputs = calls.map((call) => ({
      tool_call_id: call.id,
      output: form.elements.namedItem(call.id).value,
    }));
    try {
      await api("POST", `${runPath(run.thread_id, run.id)}/submit_tool_outputs`, {
        tool_outputs: toolOutputs,
      });
    } catch (failure) {
      showError(failure);
    }
    if (view === state.view) await reloadRun(view);
  }

  async function reloadRun(view) {
    stopPolling();
    try {
      await loadRun(view, false);
    } catch (failure) {
      if (view === state.view) showError(failure);
    }
  }

  function stepView(step) {
    const details = step.step_details || {};
    let body;
    if (details.type === "message_creation") {
      const messageId = details.message_creation.message_id;
      const message = state.messages.get(messageId);
      const text = message
        ? (message.content || [])
            .filter((p) => p.type === "text")
            .map((p) => p.text.value)
            .join("\n")
        : null;
      body = el(
        "div",
        { class: "step-body" },
        el("p", {}, "Created message ", el("span", { class: "id" }, messageId)),
        text !== null ? el("div", { class: "text quoted" }, text) : null,
      );
    } else if (details.type === "tool_calls") {
      body = el("ol", { class: "tool-calls" }, (details.tool_calls || []).map(toolCallView));
    } else {
      body = code(pretty(details));
    }
    return el(
      "li",
      { class: `step step-${step.type}`, dataset: { stepId: step.id, status: step.status } },
      el(
        "div",
        { class: "step-header" },
        el("b", {}, step.type === "tool_calls" ? "Tool calls" : "Message creation"),
        badge(step.status),
        el("span", { class: "id" }, step.id),
        el("span", { class: "muted" }, time(step.created_at)),
      ),
      body,
      step.usage ? el("p", { class: "muted" }, usageText(step.usage)) : null,
      step.last_error
        ? el("p", { class: "warning" }, `${step.last_error.code}: ${step.last_error.message}`)
        : null,
    );
  }

  function toolCallView(call) {
    if (call.type === "function") {
      const output = pretty(call.function.output);
      return el(
        "li",
        { class: "tool-call", dataset: { toolCallId: call.id } },
        el("div", {}, el("b", { class: "function-name" }, call.function.name), " ", el("span", { class: "id" }, call.id)),
        el("div", { class: "label" }, "arguments"),
        code(pretty(call.function.arguments), "arguments"),
        el("div", { class: "label" }, "output"),
        output === null ? el("p", { class: "muted output-pending" }, "no output yet") : code(output, "output"),
      );
    }
    return el(
      "li",
      { class: "tool-call", dataset: { toolCallId: call.id } },
      el("div", {}, el("b", {}, call.type), " ", el("span", { class: "id" }, call.id)),
      code(pretty(call[call.type] ?? call)),
    );
  }

  // ---- start -----------------------------------------------------------------------------

  function start() {
    $("key-form").addEventListener("submit", submitKey);
    $("forget-key").addEventListener("click", forgetKey);
    $("thread-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const threadId = $("thread-input").value.trim();
      if (threadId) navigate(threadId, null);
    });
    window.addEventListener("hashchange", route);
    const saved = sessionStorage.getItem(KEY_STORAGE);
    if (saved) useKey(saved).then(route);
  }

  start();
})();
