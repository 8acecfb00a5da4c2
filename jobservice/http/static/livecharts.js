// The dashboard's live charts of the last five minutes, redrawn every second from the board.
import { SERIES, TimeChart, count, duration, followColorScheme, perSecond } from "./charts.js";
import { LATENCY_S, LatencyCache, RATE_S, WINDOW_S, timeline } from "./timeline.js";

const TICK_MS = 1000;
const INTEGERS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 100_000];

export const CHARTS = {
  jobs: {
    title: "Jobs per second",
    format: perSecond,
    series: [SERIES.created, SERIES.completed, SERIES.failed],
  },
  queue: {
    title: "Queue",
    format: count,
    incrs: INTEGERS,
    series: [
      { key: "pending", label: "pending", color: "--pending" },
      { key: "running", label: "running", color: "--processing" },
    ],
  },
  latency: { title: "Created to completed", format: duration, series: [SERIES.p50, SERIES.p95] },
};

export class LiveCharts {
  constructor(root, board) {
    this.root = root;
    this.board = board;
    this.cache = new LatencyCache();
    this.jobs = null;
    this.charts = Object.entries(CHARTS).map(([name, spec]) =>
      new TimeChart(root.querySelector(`[data-chart="${name}"]`), spec));
    this.scope = root.querySelector(".charts-scope");
  }

  start() {
    followColorScheme(this.charts);
    setInterval(() => this.tick(), TICK_MS);
    document.addEventListener("visibilitychange", () => this.tick());
    this.tick();
  }

  tick() {
    if (document.hidden) return;
    // A reload replaces the board's jobs: percentiles kept from before it may have missed some.
    if (this.board.jobs !== this.jobs) {
      this.cache.clear();
      this.jobs = this.board.jobs;
    }
    const data = timeline(this.board.jobs.values(), Date.now(), this.cache);
    for (const chart of this.charts) chart.set(data);
    const { created, completed, failed } = data.totals;
    this.root.dataset.created = created;
    this.root.dataset.completed = completed;
    this.root.dataset.failed = failed;
    this.scope.textContent = `${created} created, ${completed} completed, ${failed} failed ` +
      `in the last ${WINDOW_S / 60} minutes. Jobs per second averaged over ${RATE_S} s; ` +
      `time from created to completed over ${LATENCY_S} s.`;
  }
}
