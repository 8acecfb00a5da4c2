// The numbers behind the live charts, worked out from what the board knows of each job (when
// it was created, started and last changed): nothing is sampled, so the last minutes are drawn
// as soon as the page has loaded the listing, and a reconnect cannot count anything twice.
import { ENDED } from "./jobs.js";

export const WINDOW_S = 300;
// Jobs per second are averaged over this many seconds, so one job does not draw a spike.
export const RATE_S = 5;
// Each point's p50/p95 covers the jobs that completed in this many seconds up to it.
export const LATENCY_S = 10;
// Whole seconds before the window, for the first points' averages.
const PAD = Math.max(RATE_S, LATENCY_S);

// x: unix seconds (what uPlot's time axis takes): each point is as of the end of a whole second
// of the window, and the last one as of this very moment, so it agrees with the counters.
export function timeline(jobs, nowMs, cache = new LatencyCache()) {
  const tally = new Tally(nowMs);
  for (const job of jobs) tally.add(job);
  const whole = Array.from({ length: WINDOW_S }, (_, i) => tally.first + 1 + i);
  const latency = cache.latency(tally.took, whole, tally.now);
  return {
    x: [...whole, Math.max(nowMs / 1000, tally.now + 0.001)],
    totals: tally.totals,
    created: [...tally.rates("created"), tally.tail.created / RATE_S],
    completed: [...tally.rates("completed"), tally.tail.completed / RATE_S],
    failed: [...tally.rates("failed"), tally.tail.failed / RATE_S],
    pending: [...tally.levels("pending"), tally.tail.pending],
    running: [...tally.levels("running"), tally.tail.running],
    p50: [...latency.p50, percentile(sorted(tally.tail.took), 0.5)],
    p95: [...latency.p95, percentile(sorted(tally.tail.took), 0.95)],
  };
}

// Per-second counts and queue steps for the window's whole seconds (slots), and the same
// figures for the moment itself (the tail).
class Tally {
  constructor(nowMs) {
    this.nowMs = nowMs;
    this.now = Math.floor(nowMs / 1000);
    this.first = this.now - WINDOW_S;
    this.size = WINDOW_S + PAD;
    this.start = (this.first - PAD) * 1000;
    const zeros = (n) => new Array(n).fill(0);
    this.counts = { created: zeros(this.size), completed: zeros(this.size), failed: zeros(this.size) };
    // +1/-1 where a job enters or leaves a state; index size is the end of the last slot.
    this.steps = { pending: zeros(this.size + 1), running: zeros(this.size + 1) };
    this.took = Array.from({ length: this.size }, () => []);
    this.totals = { created: 0, completed: 0, failed: 0 };
    this.tail = { created: 0, completed: 0, failed: 0, pending: 0, running: 0, took: [] };
  }

  slot(ms) {
    return Math.floor((ms - this.start) / 1000);
  }

  add(job) {
    this.count("created", job.created);
    const end = ENDED.has(job.status) ? job.updated : Infinity;
    if (job.status === "succeeded") this.completed(end, end - job.created);
    else if (job.status === "failed") this.count("failed", end);
    // A running job whose start was not seen (no `started` in an old record) runs since its
    // last change.
    const started = job.started ?? (job.status === "processing" ? job.updated : null);
    if (job.status === "pending" && started !== null && started <= job.updated) {
      // Waiting for another attempt: it ran from `started` until the retry at `updated`.
      this.during("pending", job.created, started);
      this.during("running", started, job.updated);
      this.during("pending", job.updated, end);
      return;
    }
    this.during("pending", job.created, Math.min(started ?? end, end));
    if (started !== null) this.during("running", started, end);
  }

  count(name, ms) {
    const i = this.slot(ms);
    if (i >= 0 && i < this.size) this.counts[name][i] += 1;
    if (ms > this.nowMs - WINDOW_S * 1000 && ms <= this.nowMs) this.totals[name] += 1;
    if (ms > this.nowMs - RATE_S * 1000 && ms <= this.nowMs) this.tail[name] += 1;
    return i;
  }

  completed(end, took) {
    const i = this.count("completed", end);
    if (i >= 0 && i < this.size) this.took[i].push(took);
    if (end > this.nowMs - LATENCY_S * 1000 && end <= this.nowMs) this.tail.took.push(took);
  }

  // A job counts at the end of each slot it is in the state at (from <= t < to), and in the
  // tail if it is in it now.
  during(name, from, to) {
    if (!(to > from)) return;
    if (from <= this.nowMs && this.nowMs < to) this.tail[name] += 1;
    const a = Math.max(0, this.slot(from - 1));
    const b = to === Infinity ? this.size : Math.min(this.size, this.slot(to - 1));
    if (a >= b) return;
    this.steps[name][a] += 1;
    this.steps[name][b] -= 1;
  }

  rates(name) {
    const counts = this.counts[name];
    const out = [];
    let sum = 0;
    counts.forEach((n, i) => {
      sum += n - (i >= RATE_S ? counts[i - RATE_S] : 0);
      if (i >= PAD) out.push(sum / RATE_S);
    });
    return out;
  }

  levels(name) {
    const out = [];
    let level = 0;
    this.steps[name].forEach((step, i) => {
      level += step;
      if (i >= PAD && i < this.size) out.push(level);
    });
    return out;
  }
}

function sorted(values) {
  return [...values].sort((a, b) => a - b);
}

// Nearest rank: the smallest value with at least q of them at or below it.
export function percentile(values, q) {
  if (!values.length) return null;
  return values[Math.min(values.length - 1, Math.ceil(q * values.length) - 1)];
}

// Seconds more than SETTLED_S old keep their percentiles: their jobs have all been seen.
const SETTLED_S = 3;

export class LatencyCache {
  constructor() {
    this.bySecond = new Map();
  }

  clear() {
    this.bySecond.clear();
  }

  latency(took, x, now) {
    const p50 = [];
    const p95 = [];
    x.forEach((second, i) => {
      let value = this.bySecond.get(second);
      if (!value) {
        const values = sorted(took.slice(PAD + i - LATENCY_S + 1, PAD + i + 1).flat());
        value = [percentile(values, 0.5), percentile(values, 0.95)];
        if (second < now - SETTLED_S) this.bySecond.set(second, value);
      }
      p50.push(value[0]);
      p95.push(value[1]);
    });
    for (const second of this.bySecond.keys()) if (second < x[0]) this.bySecond.delete(second);
    return { p50, p95 };
  }
}
