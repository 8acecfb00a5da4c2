// What the dashboard knows about each job, kept current by events.
export const STATUSES = ["pending", "processing", "succeeded", "failed", "cancelled"];
export const ENDED = new Set(["succeeded", "failed", "cancelled"]);

const STATUS_AFTER = {
  created: "pending",
  restarted: "pending",
  retry: "pending",
  started: "processing",
  progress: "processing",
  completed: "succeeded",
  error: "failed",
  cancelled: "cancelled",
};
// Events that begin an attempt's output afresh.
const RESETS = new Set(["created", "restarted", "retry", "started"]);

// A job as the list and the counters need it.
export function view(job) {
  return {
    id: job.id,
    type: job.type || "demo",
    status: job.status,
    created: job.created,
    updated: job.updated || job.created,
    started: job.started ?? null,
    step: job.output ? job.output.length : 0,
  };
}

export function viewFromCreated(event) {
  const at = Number(event.timestamp);
  return {
    id: event.jobId, type: event.jobType, status: "pending", created: at, updated: at,
    started: null, step: 0,
  };
}

// Apply one event; events older than what we know (a listing can be newer than a feed event
// still in flight) are ignored. Returns whether anything changed.
export function advance(job, event) {
  const status = STATUS_AFTER[event.type];
  const at = Number(event.timestamp) || 0;
  if (!status || at < job.updated) return false;
  job.status = status;
  job.updated = at;
  if (RESETS.has(event.type)) job.step = 0;
  if (event.type === "started") job.started = at;
  if (event.type === "progress") job.step = Math.max(job.step, Number(event.step) || 0);
  return true;
}

// Every job's status, for the counters at the top.
export class Board {
  constructor() {
    this.jobs = new Map();
    this.touched = new Set();
  }

  // Call before walking the listing; load() then keeps what events said while it walked.
  startLoad() {
    this.touched = new Set();
  }

  load(jobs) {
    const fresh = new Map(jobs.map((job) => [job.id, view(job)]));
    for (const id of this.touched) {
      const known = this.jobs.get(id);
      const loaded = fresh.get(id);
      if (known && (!loaded || known.updated > loaded.updated)) fresh.set(id, known);
    }
    this.jobs = fresh;
  }

  apply(event) {
    this.touched.add(event.jobId);
    const job = this.jobs.get(event.jobId);
    if (!job && event.type === "created") {
      this.jobs.set(event.jobId, viewFromCreated(event));
      return true;
    }
    return job ? advance(job, event) : false;
  }

  tally() {
    const counts = Object.fromEntries(STATUSES.map((status) => [status, 0]));
    for (const job of this.jobs.values()) counts[job.status] = (counts[job.status] || 0) + 1;
    return counts;
  }
}

// How many steps a job of each type takes, learnt from finished jobs. The built-in demo
// type always takes 5 (DEMO_STEPS in jobservice/core/handlers.py).
export class StepCounts {
  constructor() {
    this.byType = new Map([["demo", 5]]);
  }

  learn(type, steps) {
    if (type && steps > 0) this.byType.set(type, steps);
  }

  total(type) {
    return this.byType.get(type);
  }
}
