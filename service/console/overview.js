// The overview: counts now, and the last hour as the service sampled it.

import { api } from "./api.js";
import { chart } from "./chart.js";
import { append, clear, h } from "./dom.js";
import { clockTime, count, seconds } from "./format.js";
import { failed } from "./ui.js";

const REFRESH_MS = 10_000;

export function overviewView(main) {
  load(main);
  const timer = setInterval(() => load(main), REFRESH_MS);
  return () => clearInterval(timer);
}

const sum = (values) => values.reduce((a, b) => a + b, 0);
const largest = (values) => {
  const known = values.filter((v) => v !== null);
  return known.length ? Math.max(...known) : null;
};

function tile(id, name, value, hint) {
  return h("div", { class: "tile", id }, h("span", { class: "tile-value" }, value), h("span", { class: "tile-name" }, name), hint ? h("small", {}, hint) : null);
}

async function load(main) {
  let body;
  try {
    body = await api.overview();
  } catch (error) {
    failed(error);
    return;
  }
  const samples = body.samples;
  const last = samples[samples.length - 1] ?? {};
  const times = samples.map((s) => new Date(s.at));
  const column = (name) => samples.map((s) => s[name]);
  const windowMs = body.windowSeconds * 1000;
  const covered = samples.length ? times[times.length - 1] - times[0] : 0;
  const since = covered >= windowMs - 60_000 ? "last hour" : `since ${clockTime(times[0] ?? new Date())}`;
  clear(main);
  append(main, [
    h("h1", {}, "Overview"),
    h("div", { class: "tiles" },
      tile("tile-pending", "pending", count(last.pending)),
      tile("tile-in-flight", "in flight", count(last.inFlight)),
      tile("tile-dead", "dead letters", count(last.deadLetters)),
      tile("tile-delivered", "delivered", count(sum(column("delivered"))), `${since}, this replica`),
      tile("tile-failed", "retried / dead-lettered", `${count(sum(column("retried")))} / ${count(sum(column("deadLettered")))}`, `${since}, this replica`),
      tile("tile-lateness", "p99 lateness", seconds(largest(column("latenessP99Seconds"))), "worst 10 s interval")),
    chart({
      title: "Messages held", times, windowMs,
      series: [
        { name: "pending", values: column("pending") },
        { name: "in flight", values: column("inFlight") },
        { name: "dead letters", values: column("deadLetters") },
      ],
      format: count,
      whole: true,
    }),
    chart({
      title: `Deliveries per ${body.sampleSeconds} s`, times, windowMs,
      series: [
        { name: "delivered", values: column("delivered") },
        { name: "retried", values: column("retried") },
        { name: "dead-lettered", values: column("deadLettered") },
      ],
      format: count,
      whole: true,
    }),
    chart({
      title: "Lateness (start minus scheduled time)", times, windowMs,
      series: [
        { name: "mean", values: column("latenessMeanSeconds") },
        { name: "p99 (bucket bound)", values: column("latenessP99Seconds") },
      ],
      format: seconds,
    }),
    h("p", { class: "footnote" },
      `Sampled every ${body.sampleSeconds} s by the replica that answered, kept for an hour in its memory. `,
      "Counts of messages are for the whole store; deliveries and lateness are this replica's. ",
      "Prometheus (/metrics) has the fleet-wide history."),
  ]);
}
