
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
    title: "Jobs per second",
    format: perSecond,
    series: [SERIES.created, SERIES.completed, SERIES.failed],
  },
  latency: {
    title: "Create to end (POST sent to the job's last event)",
    format: duration,
    series: [SERIES.p50, SERIES.p95, { key: "p99", label: "p99", color: "--pending" }],
  },
  errors: {
    title: "Errors per second",
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
