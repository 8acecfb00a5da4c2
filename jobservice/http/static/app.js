// The dashboard: the job list, counters and live charts fed by GET /events, a submit form that
// folds away, a job's detail.
import { api, streamUrl, token } from "./api.js";
import { Board, ENDED, StepCounts, advance, view, viewFromCreated } from "./jobs.js";
import { LiveCharts } from "./livecharts.js";
import {
  h, jobRow, logLine, outputSteps, renderCounts, summary, text, updateRow,
} from "./render.js";

const PAGE_SIZE = 50;
// Counters walk the listing on load, up to this many pages of 500 jobs.
const COUNT_PAGES = 40;
const RETRY_MS = 5000;
const FINAL_EVENTS = new Set(["completed", "error", "cancelled"]);
const SUBMIT_OPEN_KEY = "jobservice.submitOpen";

const $ = (selector) => document.querySelector(selector);
const board = new Board();
const steps = new StepCounts();
const types = new Set(["demo", "noop"]);
const list = { jobs: new Map(), filters: {}, cursor: null };
let feed = null;
let detail = null;
let countsQueued = false;

// --- the live feed --------------------------------------------------------------------

function connectFeed() {
  feed?.close();
  setLive("connecting", "connecting…");
  feed = new EventSource(streamUrl("events"));
  // Each (re)connect reloads the list and the counts: the feed only carries what comes next.
  feed.onopen = () => { setLive("live", "live"); reload(); };
  feed.onmessage = (message) => onFeedEvent(JSON.parse(message.data));
  feed.onerror = () => {
    if (feed.readyState === EventSource.CONNECTING) return setLive("reconnecting", "reconnecting…");
    // Refused (a wrong token, or the feed unavailable): EventSource gives up, so we retry.
    setLive("offline", "offline, retrying…");
    explainOffline();
    setTimeout(connectFeed, RETRY_MS);
  };
}

function setLive(state, label) {
  $("#live").dataset.state = state;
  $("#live").textContent = label;
}

async function explainOffline() {
  try {
    await api("jobs?limit=1");
  } catch (error) {
    setLive("offline", `offline: ${error.message}`);
    showListError(error);
  }
}

function onFeedEvent(event) {
  if (event.jobType) noteType(event.jobType);
  if (board.apply(event)) queueCounts();
  const job = list.jobs.get(event.jobId);
  if (job) {
    if (event.type === "completed") steps.learn(job.type, job.step);
    if (advance(job, event)) refreshRow(job);
  } else if (event.type === "created") {
    addRow(viewFromCreated(event), true);
  }
}

// --- counters -------------------------------------------------------------------------

function queueCounts() {
  if (countsQueued) return;
  countsQueued = true;
  requestAnimationFrame(() => {
    countsQueued = false;
    renderCounts($("#counts"), board.tally());
    $("#counts-scope").textContent = countsScope();
  });
}

async function loadCounts() {
  board.startLoad();
  const jobs = [];
  let cursor = null;
  let pages = 0;
  do {
    const page = await api(`jobs?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    jobs.push(...page.jobs);
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor && pages < COUNT_PAGES);
  jobs.forEach(learnFrom);
  board.load(jobs);
  board.capped = Boolean(cursor);
  queueCounts();
}

function countsScope() {
  const n = board.jobs.size;
  const jobs = n === 1 ? "1 job" : `${n} jobs`;
  return board.capped
    ? `Counts of the newest ${jobs} only (more are stored), kept live by the event feed.`
    : `Counts of all ${jobs} stored, kept live by the event feed.`;
}

function learnFrom(job) {
  noteType(job.type || "demo");
  if (job.status === "succeeded") steps.learn(job.type || "demo", job.output?.length || 0);
}

function noteType(type) {
  if (types.has(type)) return;
  types.add(type);
  $("#types").append(h("option", { value: type }));
}

// --- the list -------------------------------------------------------------------------

async function reload() {
  await Promise.all([loadCounts().catch(showListError), loadList()]);
}

async function loadList(more = false) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const [name, value] of Object.entries(list.filters)) if (value) query.set(name, value);
  if (more && list.cursor) query.set("cursor", list.cursor);
  try {
    const page = await api(`jobs?${query}`);
    if (!more) { list.jobs.clear(); $("#job-list").replaceChildren(); }
    page.jobs.forEach((job) => { learnFrom(job); addRow(view(job), false); });
    list.cursor = page.next_cursor;
    $("#more").hidden = !list.cursor;
    $("#list-status").textContent = list.jobs.size ? "" : "No jobs match.";
  } catch (error) {
    showListError(error);
  }
}

function showListError(error) {
  $("#list-status").textContent = `Could not load jobs: ${error.message}`;
}

function matchesFilters(job) {
  const { status, type } = list.filters;
  return (!status || job.status === status) && (!type || job.type === type);
}

function addRow(job, atTop) {
  if (list.jobs.has(job.id) || (atTop && !matchesFilters(job))) return;
  list.jobs.set(job.id, job);
  const row = jobRow(job);
  row.querySelector("button").addEventListener("click", () => openDetail(job.id));
  if (atTop) $("#job-list").prepend(row);
  else $("#job-list").append(row);
  refreshRow(job);
  $("#list-status").textContent = "";
}

function refreshRow(job) {
  const row = $(`#job-list [data-job-id="${CSS.escape(job.id)}"]`);
  if (row) updateRow(row, job, steps.total(job.type));
}

// --- submitting -----------------------------------------------------------------------

function readForm(form) {
  const fields = new FormData(form);
  let data;
  try {
    data = JSON.parse(fields.get("data"));
  } catch (error) {
    return { invalid: `Data is not valid JSON: ${error.message}` };
  }
  const body = { type: fields.get("type").trim() || "demo", data };
  for (const name of ["priority", "max_attempts"]) {
    if (fields.get(name) !== "") body[name] = Number(fields.get(name));
  }
  return { body };
}

async function onSubmit(event) {
  event.preventDefault();
  const form = event.target;
  const { body, invalid } = readForm(form);
  const textarea = form.elements.data;
  textarea.toggleAttribute("aria-invalid", Boolean(invalid));
  $("#data-error").hidden = !invalid;
  $("#data-error").textContent = invalid || "";
  if (invalid) return textarea.focus();
  await submit(body, (message) => { $("#submit-status").textContent = message; });
}

async function submit(body, report) {
  report("Submitting…");
  try {
    const job = await api("job", { method: "POST", body });
    report(`Submitted job ${job.id}.`);
    addRow(view(job), true);
    openDetail(job.id);
  } catch (error) {
    report(`Not submitted: ${error.message}`);
  }
}

// --- a job's detail -------------------------------------------------------------------

async function openDetail(id) {
  closeDetail();
  const panel = $("#detail");
  panel.hidden = false;
  panel.dataset.jobId = id;
  $("#detail-h").replaceChildren("Job ", h("code", {}, id));
  $("#detail-log").replaceChildren();
  detail = { id, job: null, seen: new Set(), source: null };
  try {
    showJob(await api(`job/${encodeURIComponent(id)}`));
  } catch (error) {
    return showDetailMessage(error.message);
  }
  watch(detail);
  $("#detail-h").focus({ preventScroll: true });
  panel.scrollIntoView({ block: "nearest" });
}

function closeDetail() {
  detail?.source?.close();
  detail = null;
  $("#detail").hidden = true;
  showDetailMessage("");
}

// Close with the button or Escape, and put the focus back on the job's row.
function dismissDetail() {
  const id = detail?.id;
  closeDetail();
  $(`#job-list [data-job-id="${CSS.escape(id || "")}"] button`)?.focus();
}

function watch(current) {
  const source = new EventSource(streamUrl(`job/${encodeURIComponent(current.id)}/stream`));
  current.source = source;
  $("#stream-state").textContent = "(live)";
  source.onmessage = (message) => onJobEvent(current, message);
  source.onerror = () => {
    // After the final event the service answers 204 and EventSource stops for good.
    const ended = source.readyState === EventSource.CLOSED;
    $("#stream-state").textContent = ended ? "(stream ended)" : "(reconnecting…)";
  };
}

function onJobEvent(current, message) {
  if (current !== detail) return;
  if (message.lastEventId && current.seen.has(message.lastEventId)) return;
  current.seen.add(message.lastEventId);
  $("#stream-state").textContent = "(live)";
  const event = JSON.parse(message.data);
  $("#detail-log").append(logLine(event));
  if (FINAL_EVENTS.has(event.type)) {
    // The service ends the stream here; closing first saves EventSource a pointless retry.
    current.source.close();
    $("#stream-state").textContent = "(stream ended)";
  }
  if (event.type === "initial") return showJob(event.job);
  if (event.type === "progress") return addStep(current.job, event);
  refreshDetail(current);
}

function addStep(job, event) {
  job.output = [...(job.output || []), {
    step: Number(event.step), timestamp: Number(event.timestamp), data: event.data,
  }];
  job.status = "processing";
  showJob(job);
}

async function refreshDetail(current) {
  try {
    const job = await api(`job/${encodeURIComponent(current.id)}`);
    if (current === detail) showJob(job);
  } catch (error) {
    showDetailMessage(error.message);
  }
}

function showJob(job) {
  detail.job = job;
  $("#detail-summary").replaceChildren(...summary(job));
  $("#detail-data").textContent = text(job.data);
  $("#detail-output").replaceChildren(...outputSteps(job.output));
  $("#detail-error").hidden = !job.error;
  $("#detail-error").textContent = job.error ? `Error: ${job.error}` : "";
  $("#cancel").hidden = ENDED.has(job.status);
  $("#resubmit").hidden = !["failed", "cancelled"].includes(job.status);
}

function showDetailMessage(message) {
  $("#detail-message").hidden = !message;
  $("#detail-message").textContent = message;
}

async function onCancel() {
  const current = detail;
  try {
    const job = await api(`job/${encodeURIComponent(current.id)}/cancel`, { method: "POST" });
    if (current === detail) showJob(job);
  } catch (error) {
    showDetailMessage(`Not cancelled: ${error.message}`);
  }
}

function onResubmit() {
  const { type, data, priority, max_attempts: attempts } = detail.job;
  const body = { type, data };
  if (priority) body.priority = priority;
  if (attempts) body.max_attempts = attempts;
  submit(body, showDetailMessage);
}

// --- the submit form folds away; the page remembers how it was left --------------------

function setUpFold() {
  const panel = $("#submit-panel");
  panel.open = localStorage.getItem(SUBMIT_OPEN_KEY) === "true";
  panel.addEventListener("toggle", () => localStorage.setItem(SUBMIT_OPEN_KEY, String(panel.open)));
  $("#new-job").addEventListener("click", () => {
    panel.open = true;
    panel.scrollIntoView({ block: "nearest" });
    $("#job-type").focus({ preventScroll: true });
  });
}

// --- wiring ---------------------------------------------------------------------------

function onToken(event) {
  event.preventDefault();
  token.set($("#token").value.trim());
  connectFeed();
  if (detail) openDetail(detail.id);
}

function onFilter(event) {
  event.preventDefault();
  const fields = new FormData(event.target);
  list.filters = { status: fields.get("status"), type: fields.get("type").trim() };
  loadList();
}

function start() {
  $("#token").value = token.get();
  setUpFold();
  new LiveCharts($("#charts"), board).start();
  for (const type of types) $("#types").append(h("option", { value: type }));
  renderCounts($("#counts"), board.tally());
  $("#token-form").addEventListener("submit", onToken);
  $("#submit-form").addEventListener("submit", onSubmit);
  $("#filters").addEventListener("submit", onFilter);
  $("#filter-status").addEventListener("change", () => $("#filters").requestSubmit());
  $("#more").addEventListener("click", () => loadList(true));
  $("#close-detail").addEventListener("click", dismissDetail);
  $("#detail").addEventListener("keydown", (event) => {
    if (event.key === "Escape") dismissDetail();
  });
  $("#cancel").addEventListener("click", onCancel);
  $("#resubmit").addEventListener("click", onResubmit);
  connectFeed();
}

start();
