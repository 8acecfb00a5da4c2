
// --- loadreport.js: the report's charts (appended to charts.js in the page) ---------------
const report = JSON.parse(document.getElementById("report-data").textContent);
const { summary } = report;
const sum = (key) => report.series[key].reduce((a, b) => a + b, 0);
// What the keys say while no second is pointed at: the whole run.
const IDLE = {
  created: () => `${perSecond(summary.created_per_s)} overall`,
  completed: () => `${perSecond(summary.completed_per_s)} overall`,
  failed: () => `${sum("failed")} in all`,
  p50: () => `${duration(summary.create_to_end_ms.p50)} overall`,
  p95: () => `${duration(summary.create_to_end_ms.p95)} overall`,
  p99: () => `${duration(summary.create_to_end_ms.p99)} overall`,
  http: () => `${sum("http")} in all`,
  client: () => `${sum("client")} in all`,
};
const REPORT_CHARTS = {
  jobs: {
    format: perSecond,
    series: [
      { key: "created", label: "created", color: "--accent" },
      { key: "completed", label: "completed", color: "--succeeded" },
      { key: "failed", label: "failed", color: "--failed" },
    ],
  },
  latency: {
    format: duration,
    series: [
      { key: "p50", label: "p50", color: "--accent" },
      { key: "p95", label: "p95", color: "--muted", dash: [6, 4] },
      { key: "p99", label: "p99", color: "--pending" },
    ],
  },
  errors: {
    format: perSecond,
    series: [
      { key: "http", label: "error answers", color: "--failed" },
      { key: "client", label: "client errors", color: "--pending" },
    ],
  },
};
const reportCharts = Object.entries(REPORT_CHARTS).map(([name, spec]) => {
  const figure = document.querySelector(`[data-chart="${name}"]`);
  const chart = new TimeChart(figure, { ...spec, idle: (key) => IDLE[key]() });
  chart.set(report.series);
  return chart;
});
followColorScheme(reportCharts);
