// Renders the embedded chart specs and opens a strike's detail (dealer view) when a strike bar is clicked.
(function () {
  "use strict";
  const readJson = (id) => JSON.parse(document.getElementById(id).textContent);
  const figures = readJson("figure-data");
  const details = readJson("strike-detail");
  const page = readJson("page-config");
  const drawer = document.getElementById("drilldown");
  const drawerBody = document.getElementById("drilldown-body");

  // Same spelling as drilldown.strike_key in Python: 670 -> "670", 672.5 -> "672.5".
  const strikeKey = (x) => Number(x).toFixed(3).replace(/\.?0+$/, "");

  function fmtUsd(value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "n/a";
    const size = Math.abs(value), sign = value < 0 ? "-" : value > 0 ? "+" : "";
    for (const [scale, suffix] of [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]]) {
      if (size >= scale) return `${sign}$${(size / scale).toFixed(1)}${suffix}`;
    }
    return `${sign}$${size.toFixed(0)}`;
  }
  const fmtInt = (v) => Number(v).toLocaleString("en-US");
  const signClass = (v) => (v >= 0 ? "pos" : "neg");
  const escapeHtml = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

  function rowsAsObjects(table) {
    return table.rows.map((row) => Object.fromEntries(table.columns.map((c, i) => [c, row[i]])));
  }

  function htmlTable(headers, rows) {
    const head = headers.map(([label, cls]) => `<th class="${cls || ""}">${label}</th>`).join("");
    const body = rows.map((cells) => `<tr>${cells.map(([v, cls]) => `<td class="${cls || ""}">${v}</td>`).join("")}</tr>`).join("");
    return `<table class="grid-table"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  }

  function positionsTable(positions) {
    return htmlTable(
      [["Expiry"], ["Right"], ["Dealer pos", "num"], ["Cust BTO", "num"], ["Cust STO", "num"], ["Cust BTC", "num"], ["Cust STC", "num"], ["OI", "num"]],
      positions.map((p) => [[p.expiry.slice(5)], [p.right], [fmtInt(p.dealer_position), "num " + signClass(p.dealer_position)],
        [fmtInt(p.customer_buy_open), "num"], [fmtInt(p.customer_sell_open), "num"], [fmtInt(p.customer_buy_close), "num"],
        [fmtInt(p.customer_sell_close), "num"], [fmtInt(p.open_interest), "num"]]));
  }

  function greeksTable(greeks) {
    return htmlTable(
      [["Expiry"], ["Right"], ["IV", "num"], ["Delta", "num"], ["Gamma", "num"], ["Dealer GEX", "num"], ["DEX", "num"], ["VEX", "num"], ["CEX", "num"]],
      greeks.map((g) => [[g.expiry.slice(5)], [g.right], [(g.iv * 100).toFixed(1) + "%", "num"], [g.delta.toFixed(3), "num"],
        [g.gamma.toFixed(4), "num"], [fmtUsd(g.gex), "num " + signClass(g.gex)], [fmtUsd(g.dex), "num"],
        [fmtUsd(g.vex), "num"], [fmtUsd(g.cex), "num"]]));
  }

  function flowTable(flow) {
    const contracts = [...new Set(flow.map((f) => `${f.expiry.slice(5)} ${f.right}`))].sort();
    const byDate = new Map();
    for (const f of flow) {
      const row = byDate.get(f.date) || {};
      row[`${f.expiry.slice(5)} ${f.right}`] = f.net_dealer_flow;
      byDate.set(f.date, row);
    }
    return htmlTable([["Date"], ...contracts.map((c) => [c, "num"])],
      [...byDate.entries()].map(([date, row]) => [[date.slice(5)], ...contracts.map((c) =>
        row[c] === undefined ? ["·", "num muted"] : [fmtInt(row[c]), "num " + signClass(row[c])])]));
  }

  function flowChart(target, flow) {
    const groups = new Map();
    for (const f of flow) {
      const name = `${f.expiry} ${f.right}`;
      if (!groups.has(name)) groups.set(name, { x: [], y: [] });
      groups.get(name).x.push(f.date);
      groups.get(name).y.push(f.net_dealer_flow);
    }
    const traces = [...groups.entries()].map(([name, g], i) => ({
      type: "bar", name, y: g.y,
      marker: { color: page.colors.expiries[Math.floor(i / 2) % page.colors.expiries.length], opacity: name.endsWith("P") ? 0.55 : 1 },
      hovertemplate: `${name}<br>%{x}: %{y:,} contracts<extra>net dealer flow</extra>`,
      x: g.x.map((d) => d.slice(5)),
    }));
    const layout = {
      barmode: "relative", paper_bgcolor: "#0e151d", plot_bgcolor: "#0e151d", height: 240,
      margin: { l: 50, r: 10, t: 10, b: 30 }, font: { color: "#d6dde6", size: 11 },
      legend: { orientation: "h", y: -0.18, font: { size: 10 } }, showlegend: true,
      xaxis: { gridcolor: "#1c2631", type: "category", tickfont: { size: 9 } },
      yaxis: { gridcolor: "#1c2631", title: { text: "dealer contracts", font: { size: 10 } } },
    };
    return Plotly.newPlot(target, traces, layout, { displayModeBar: false, responsive: true });
  }

  function openStrike(x) {
    const key = strikeKey(x);
    const detail = details[key];
    if (!detail) return;
    const positions = rowsAsObjects(detail.positions);
    const greeks = rowsAsObjects(detail.greeks);
    const flow = rowsAsObjects(detail.flow);
    const sum = (rows, col, right) => rows.filter((r) => !right || r.right === right).reduce((a, r) => a + r[col], 0);
    const netGex = sum(greeks, "gex");
    document.getElementById("drilldown-title").textContent = `Strike ${key} · dealer positioning`;
    drawerBody.innerHTML = `
      <div class="stats">
        <div><span>Net dealer GEX</span><b class="${signClass(netGex)}">${fmtUsd(netGex)}</b></div>
        <div><span>Dealer calls</span><b class="${signClass(sum(positions, "dealer_position", "C"))}">${fmtInt(sum(positions, "dealer_position", "C"))}</b></div>
        <div><span>Dealer puts</span><b class="${signClass(sum(positions, "dealer_position", "P"))}">${fmtInt(sum(positions, "dealer_position", "P"))}</b></div>
      </div>
      <h4>Positions per expiry and right (contracts; dealer &gt; 0 = dealers long)</h4>${positionsTable(positions)}
      <h4>Greeks and dealer exposures ($, per contract line)</h4>${greeksTable(greeks)}
      <h4>Daily net dealer flow that built the position (contracts)</h4><div id="drilldown-flow-chart"></div>
      ${flowTable(flow)}`;
    drawer.classList.add("open");
    drawer.setAttribute("aria-hidden", "false");
    drawer.dataset.strike = key;
    flowChart(document.getElementById("drilldown-flow-chart"), flow);
  }

  function closeDrawer() {
    drawer.classList.remove("open");
    drawer.setAttribute("aria-hidden", "true");
  }
  document.getElementById("drilldown-close").addEventListener("click", closeDrawer);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDrawer(); });

  const renders = Object.entries(figures).map(([name, fig]) => {
    const target = document.getElementById(`chart-${name}`);
    if (!target) return Promise.resolve();
    return Plotly.newPlot(target, fig.data, fig.layout, page.plot).then((plot) => {
      if (page.clickable.includes(name)) {
        plot.on("plotly_click", (event) => { if (event.points.length) openStrike(event.points[0].x); });
      }
    });
  });
  Promise.all(renders).then(() => {
    window.spyGammaRenderedMs = performance.now();
    document.body.dataset.rendered = "true";
  });
  window.spyGamma = { openStrike, strikeKey };
})();
