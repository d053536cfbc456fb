// Draws the dashboard's charts from the numbers the page embeds (#analytics-data).
(function () {
  "use strict";
  const source = document.getElementById("analytics-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const L = data.labels;
  const palette = ["#417690", "#e07a1f", "#5b9c4a", "#b53f3f", "#7a5ba8", "#2c9fa8", "#a88a2c",
                   "#6b6b6b", "#c45a9a", "#3f5fb5"];
  const shortDays = data.days.map((d) => d.slice(5));
  const charts = {};

  function line(id, sets) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    charts[id] = new Chart(canvas, {
      type: "line",
      data: {
        labels: shortDays,
        datasets: sets.map((s, i) => ({
          label: L[s.key] || s.key, data: data.series[s.key], yAxisID: s.axis || "y",
          borderColor: palette[i], backgroundColor: palette[i], tension: 0.2, pointRadius: 0,
        })),
      },
      options: {
        animation: false, responsive: true, interaction: { mode: "index", intersect: false },
        scales: sets.some((s) => s.axis === "y2")
          ? { y: { beginAtZero: true }, y2: { beginAtZero: true, position: "right",
                                              grid: { drawOnChartArea: false } } }
          : { y: { beginAtZero: true } },
      },
    });
  }

  function bars(id, name) {
    const canvas = document.getElementById(id);
    const rows = data.breakdowns[name] || [];
    if (!canvas) return;
    charts[id] = new Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map((r) => r.name),
        datasets: [{ label: L.requests, data: rows.map((r) => r.requests),
                     backgroundColor: rows.map((_, i) => palette[i % palette.length]) }],
      },
      options: { animation: false, responsive: true, plugins: { legend: { display: false } },
                 scales: { y: { beginAtZero: true } } },
    });
  }

  line("chart-requests", [{ key: "replies" }, { key: "images" }, { key: "active_users", axis: "y2" }]);
  line("chart-tokens", [{ key: "tokens" }, { key: "cost", axis: "y2" }]);
  line("chart-errors", [{ key: "failed" }, { key: "errors" }]);
  bars("chart-channel", "channel");
  bars("chart-bot", "bot");
  bars("chart-role", "role");
  window.analyticsCharts = charts;
})();
