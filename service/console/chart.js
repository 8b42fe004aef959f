// A small line chart in SVG, drawn from attributes only (no inline style, no markup).

import { h, svg } from "./dom.js";
import { clockTime } from "./format.js";

// Drawn about the size it is shown at, so the axis text keeps its size.
const WIDTH = 1200;
const HEIGHT = 180;
const PAD = { left: 56, right: 8, top: 10, bottom: 24 };

function scale(domain, range) {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0 || 1;
  return (value) => r0 + ((value - d0) / span) * (r1 - r0);
}

function niceMax(value) {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 5, 10]) if (value <= m * step) return m * step;
  return 10 * step;
}

// Consecutive points with a value; a gap (null) breaks the line.
function segments(points) {
  const runs = [[]];
  for (const point of points) {
    if (point === null) runs.push([]);
    else runs[runs.length - 1].push(point);
  }
  return runs.filter((run) => run.length > 0);
}

// series: [{name, values: [number|null]}], times: [Date], format: v => text; whole: counts only.
export function chart({ title, times, series, format = String, windowMs = 3_600_000, whole = false }) {
  const end = times.length ? times[times.length - 1].getTime() : Date.now();
  const x = scale([end - windowMs, end], [PAD.left, WIDTH - PAD.right]);
  const values = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
  const top = niceMax(Math.max(0, ...values));
  const y = scale([0, top], [HEIGHT - PAD.bottom, PAD.top]);
  const plot = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", role: "img", "aria-label": title,
  });
  for (const fraction of [0, 0.5, 1]) {
    const value = top * fraction;
    if (whole && !Number.isInteger(value)) continue;
    plot.append(
      svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value), class: "grid" }),
      svg("text", { x: PAD.left - 6, y: y(value) + 4, class: "axis", "text-anchor": "end" }, format(value)),
    );
  }
  for (const [at, anchor] of [[end - windowMs, "start"], [end - windowMs / 2, "middle"], [end, "end"]]) {
    plot.append(svg("text", { x: x(at), y: HEIGHT - 6, class: "axis", "text-anchor": anchor }, clockTime(new Date(at))));
  }
  series.forEach((s, index) => {
    const points = s.values.map((v, i) => (v === null || v === undefined ? null : [x(times[i].getTime()), y(v)]));
    for (const run of segments(points)) {
      const path = run.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" ");
      plot.append(svg("polyline", { points: path, class: `series series-${index}` }));
    }
  });
  const legend = h("ul", { class: "legend" },
    series.map((s, index) => h("li", { class: `key key-${index}` }, s.name)));
  return h("figure", { class: "chart-box" }, h("figcaption", {}, title), plot, legend);
}
