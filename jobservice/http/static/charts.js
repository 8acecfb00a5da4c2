// Time charts drawn with uPlot (uPlot.iife.min.js, MIT licence in uPlot.LICENSE), shared by the
// dashboard and the load test report. A chart fills a <figure>: a caption with its title and
// one key per series (showing the newest values, or those under the cursor), and the plot.
const PLOT_HEIGHT = 120;
// Time ticks fall on whole seconds and minutes, however short the run.
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400];

// Series drawn by both the dashboard and the load test report, in the same colours.
export const SERIES = {
  created: { key: "created", label: "created", color: "--accent" },
  completed: { key: "completed", label: "completed", color: "--succeeded" },
  failed: { key: "failed", label: "failed", color: "--failed" },
  p50: { key: "p50", label: "p50", color: "--accent" },
  p95: { key: "p95", label: "p95", color: "--muted", dash: [6, 4] },
};

// Formats for the y axis and the keys.
export const perSecond = (v) => (v == null ? "–" : `${trim(v)}/s`);
export const count = (v) => (v == null ? "–" : String(Math.round(v)));
export const duration = (ms) => {
  if (ms == null) return "–";
  if (ms === 0) return "0";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return ms < 60_000 ? `${trim(ms / 1000)} s` : `${trim(ms / 60_000)} min`;
};

function trim(v) {
  return v >= 100 ? String(Math.round(v)) : String(Number(v.toPrecision(2)));
}

// Colours come from the page's custom properties, so charts follow light and dark.
function cssVar(element, name) {
  return getComputedStyle(element).getPropertyValue(name).trim() || "#888";
}

// spec: { title, series: [{ key, label, color: "--css-var", dash? }], format, incrs?, idle? }
export class TimeChart {
  constructor(figure, spec) {
    this.figure = figure;
    this.spec = spec;
    this.values = new Map();
    const keys = spec.series.map(({ key, label, color, dash }) => {
      const value = element("b", "value", "–");
      this.values.set(key, value);
      const item = element("span", dash ? "key dashed" : "key", `${label} `, value);
      item.dataset.key = key;
      // The key's swatch in the series' colour (CSSOM, which a style-src policy allows).
      item.style.setProperty("--key", `var(${color})`);
      return item;
    });
    this.plot = element("div", "plot");
    figure.replaceChildren(
      element("figcaption", "", element("span", "chart-title", spec.title), ...keys), this.plot);
    this.data = null;
    this.uplot = null;
    new ResizeObserver(() => this.resize()).observe(this.plot);
  }

  set(data) {
    this.data = [data.x, ...this.spec.series.map(({ key }) => data[key])];
    if (!this.uplot) this.create();
    else this.uplot.setData(this.data);
    this.showValues(null);
  }

  // Rebuild with the current colours (after a light/dark switch).
  restyle() {
    this.uplot?.destroy();
    this.uplot = null;
    if (this.data) this.create();
  }

  create() {
    const width = this.plot.clientWidth;
    if (!width || !this.data) return;
    this.uplot = new globalThis.uPlot(this.options(width), this.data, this.plot);
    // For tests and the curious: the chart's own data, as drawn.
    this.figure.uplot = this.uplot;
  }

  resize() {
    const width = this.plot.clientWidth;
    if (!width) return;
    if (this.uplot) this.uplot.setSize({ width, height: PLOT_HEIGHT });
    else this.create();
  }

  // The values at a point (under the cursor), else the newest, or the spec's own words for
  // the whole (a finished run's report).
  showValues(index) {
    const last = this.data ? this.data[0].length - 1 : -1;
    this.spec.series.forEach(({ key }, n) => {
      const value = this.values.get(key);
      if (index == null && this.spec.idle) value.textContent = this.spec.idle(key);
      else value.textContent = this.spec.format(this.data?.[n + 1][index ?? last]);
    });
  }

  options(width) {
    const text = cssVar(this.figure, "--muted");
    const line = cssVar(this.figure, "--line");
    const axis = { stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 },
      font: "11px system-ui, sans-serif" };
    return {
      width,
      height: PLOT_HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true, range: (u, min, max) => (min < max ? [min, max] : [min - 1, max + 1]) },
        y: { range: (u, min, max) => [0, niceMax(max)] },
      },
      axes: [{ ...axis, size: 28, space: 60, incrs: TIME_STEPS }, {
        ...axis, size: 56, incrs: this.spec.incrs, values: (u, ticks) => ticks.map(this.spec.format),
      }],
      series: [{}, ...this.spec.series.map(({ label, color, dash }) => ({
        label, stroke: cssVar(this.figure, color), width: 2, dash, spanGaps: false,
      }))],
      hooks: { setCursor: [(u) => this.showValues(u.cursor.idx)] },
    };
  }
}

function element(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

// Room above the highest value, and a visible axis when everything is 0.
function niceMax(max) {
  if (!(max > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  return Math.ceil((max * 1.1) / step) * step;
}

// Rebuild every chart when the system switches between light and dark.
export function followColorScheme(charts) {
  matchMedia("(prefers-color-scheme: dark)")
    .addEventListener("change", () => charts.forEach((chart) => chart.restyle()));
}
