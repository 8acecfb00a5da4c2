// Building and updating the page's pieces. Text goes in as text, never as HTML.
import { STATUSES } from "./jobs.js";

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null && value !== false) element.setAttribute(name, value);
  }
  element.append(...children.filter((child) => child !== undefined && child !== null));
  return element;
}

export function time(ms) {
  if (!ms) return "";
  const date = new Date(Number(ms));
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString() : date.toLocaleString();
}

export function text(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

export function renderCounts(list, counts) {
  list.replaceChildren(...STATUSES.map((status) =>
    h("li", { "data-status": status },
      h("span", { class: "count" }, String(counts[status] ?? 0)),
      h("span", { class: "label" }, status))));
}

// One row of the job list: a button that opens the job, updated in place by updateRow.
export function jobRow(job) {
  const bar = h("span", { class: "bar", role: "progressbar", "aria-valuemin": "0",
    "aria-valuemax": "100", "aria-label": "progress" }, h("span", { class: "fill" }));
  const button = h("button", { type: "button", class: "job-open" },
    h("span", { class: "badge" }),
    h("span", { class: "job-type" }, job.type),
    // Ids are UUIDv7: they start with the time, so the random end tells jobs apart.
    h("code", { class: "job-id", title: job.id }, job.id.slice(-8)),
    h("time", { class: "job-time" }, time(job.created)),
    h("span", { class: "job-progress" }, bar, h("span", { class: "step" })));
  const row = h("li", { class: "job", "data-job-id": job.id }, button);
  updateRow(row, job, undefined);
  return row;
}

export function updateRow(row, job, total) {
  row.dataset.status = job.status;
  row.querySelector(".badge").textContent = job.status;
  const running = job.status === "processing";
  const progress = row.querySelector(".job-progress");
  progress.hidden = !running;
  if (!running) return;
  setBar(progress.querySelector(".bar"), job.step, total);
  progress.querySelector(".step").textContent =
    total ? `step ${job.step} of ${total}` : `step ${job.step}`;
}

function setBar(bar, step, total) {
  const fill = bar.querySelector(".fill");
  if (!total) {
    bar.removeAttribute("aria-valuenow");
    bar.classList.add("indeterminate");
    fill.style.width = "";
    return;
  }
  const percent = Math.min(100, Math.round((100 * step) / total));
  bar.classList.remove("indeterminate");
  bar.setAttribute("aria-valuenow", String(percent));
  fill.style.width = `${percent}%`;
}

export function summary(job) {
  const parts = [
    h("span", { class: "badge", "data-status": job.status }, job.status),
    ` ${job.type || "demo"} · attempt ${job.attempts || 0} of ${job.max_attempts || 1}`,
    ` · created ${time(job.created)} · updated ${time(job.updated)}`,
  ];
  if (job.priority) parts.push(` · priority ${job.priority}`);
  if (job.run_at) parts.push(` · runs at ${time(job.run_at)}`);
  if (job.timeout) parts.push(` · timeout ${job.timeout}s`);
  return parts;
}

export function outputSteps(output) {
  return (output || []).map((step) =>
    h("li", {}, h("span", { class: "muted small" }, `step ${step.step} · ${time(step.timestamp)}`),
      h("pre", {}, text(step.data))));
}

export function logLine(event) {
  const { type, jobId: _id, timestamp, ...rest } = event;
  const details = type === "initial" ? `job is ${event.job.status}` : describe(rest);
  return h("li", { "data-type": type },
    h("time", {}, time(timestamp || event.job?.updated)), " ",
    h("strong", {}, type), details ? ` ${details}` : "");
}

function describe(fields) {
  return Object.entries(fields)
    .map(([name, value]) => `${name}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" · ");
}
