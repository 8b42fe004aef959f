// Pending messages: filter by label and state, page, look inside, cancel one or a label.

import { api, collectIds } from "./api.js";
import { append, clear, h } from "./dom.js";
import { count, parseLabels, plural } from "./format.js";
import {
  Pager, button, code, confirmDialog, detailDialog, failed, fields, json, labelList, notice,
  table, when,
} from "./ui.js";

const filter = { labels: "", state: "" };
let pager;

const STATES = [
  ["", "any pending"],
  ["scheduled", "scheduled (never attempted)"],
  ["retrying", "waiting for a retry"],
  ["in_flight", "in flight"],
];

export function messagesView(main) {
  pager = new Pager(() => load(main));
  load(main);
}

function filterForm(main) {
  const labels = h("input", {
    id: "message-labels", name: "labels", value: filter.labels, placeholder: "name:value, name:value",
    "aria-label": "Labels",
  });
  const state = h("select", { id: "message-state", name: "state", "aria-label": "State" },
    STATES.map(([value, text]) => h("option", { value, selected: value === filter.state }, text)));
  const apply = (event) => {
    event.preventDefault();
    filter.labels = labels.value;
    filter.state = state.value;
    pager.reset();
    load(main);
  };
  return h("form", { class: "filters", on: { submit: apply } },
    h("label", {}, "Labels ", labels),
    h("label", {}, "State ", state),
    h("button", { type: "submit", id: "message-filter" }, "Filter"),
    button("Refresh", () => load(main), { class: "secondary", id: "message-refresh" }),
    parseLabels(filter.labels).length > 0
      ? button("Cancel all with these labels…", () => cancelLabelled(main), { class: "danger", id: "cancel-labelled" })
      : null);
}

async function load(main) {
  const labels = parseLabels(filter.labels);
  let page;
  try {
    page = await api.messages({ labels, state: filter.state, cursor: pager.cursor });
  } catch (error) {
    failed(error);
    return;
  }
  pager.next = page.nextCursor;
  const rows = page.scheduledJobs;
  const summary = labels.length
    ? `At most ${count(page.count)} pending with the first label · ${count(page.inFlight)} in flight overall`
    : `${count(page.count)} pending · ${count(page.inFlight)} in flight`;
  clear(main);
  append(main, [
    h("h1", {}, "Pending messages"),
    filterForm(main),
    h("p", { class: "summary", id: "message-summary" }, summary),
    table([
      { title: "Message", cell: (r) => button(r.messageId, () => showMessage(r.messageId), { class: "link", "data-action": "detail" }) },
      { title: "Next attempt", cell: (r) => when(r.nextRun) },
      { title: "Attempts", cell: (r) => String(r.attempts), class: "num" },
      { title: "Last error", cell: (r) => r.lastError ?? "—", class: "error-text" },
      { title: "Labels", cell: (r) => labelList(r.labels) },
      { title: "Webhook", cell: (r) => code(r.webhookUrl), class: "url" },
      { title: "", cell: (r) => button("Cancel", () => cancelOne(main, r.messageId), { class: "danger small", "data-action": "cancel" }) },
    ], rows, (r) => r.messageId),
    pager.controls(rows.length),
  ]);
}

export async function showMessage(id) {
  let m;
  try {
    m = await api.message(id);
  } catch (error) {
    failed(error);
    return;
  }
  detailDialog(`Message ${m.messageId}`,
    fields([
      ["State", m.state],
      ["Scheduled for", when(m.scheduleTo)],
      ["Next attempt", m.nextRun ? when(m.nextRun) : "—"],
      ["Webhook", h("span", {}, `${m.method} `, code(m.webhookUrl))],
      ["Header names", m.headerNames.length ? m.headerNames.join(", ") : "—"],
      ["Labels", labelList(m.labels)],
      ["Attempts made", String(m.attemptCount)],
      ["Last error", m.lastError ?? "—"],
      ["Created", when(m.createdAt)],
    ]),
    h("h3", {}, "Payload"),
    json(m.payload),
    h("h3", {}, "Attempts"),
    table([
      { title: "#", cell: (a) => String(a.attempt), class: "num" },
      { title: "Started", cell: (a) => when(a.startedAt) },
      { title: "Took", cell: (a) => `${a.durationMs} ms`, class: "num" },
      { title: "Status", cell: (a) => (a.responseStatus === null ? "—" : String(a.responseStatus)), class: "num" },
      { title: "Error", cell: (a) => a.error ?? "—", class: "error-text" },
    ], m.attempts, (a) => String(a.attempt)));
}

async function cancelOne(main, id) {
  const sure = await confirmDialog({
    title: "Cancel this message?",
    body: h("p", {}, "Message ", code(id), " will not be delivered. A request already on the wire still arrives."),
    action: "Cancel message",
  });
  if (!sure) return;
  try {
    await api.cancel(id);
    notice(`Cancelled ${id}.`, "ok");
  } catch (error) {
    failed(error);
  }
  load(main);
}

// The count first (pending and in flight, as DELETE /messages?label= cancels both), then ask.
async function cancelLabelled(main) {
  const labels = parseLabels(filter.labels);
  notice("Counting…");
  let total;
  try {
    const [pending, flying] = await Promise.all([
      collectIds(api.messages, { labels }, "scheduledJobs"),
      collectIds(api.messages, { labels, state: "in_flight" }, "scheduledJobs"),
    ]);
    total = new Set([...pending.ids, ...flying.ids]).size;
    if (!pending.complete) total = `more than ${count(total)}`;
  } catch (error) {
    failed(error);
    return;
  }
  notice("");
  const sure = await confirmDialog({
    title: "Cancel every message with these labels?",
    body: [
      h("p", { id: "cancel-count" }, `${plural(total, "message")} with ${labels.join(" and ")}.`),
      h("p", {}, "They will not be delivered. Messages scheduled meanwhile with the same labels are cancelled too."),
    ],
    action: `Cancel ${plural(total, "message")}`,
  });
  if (!sure) return;
  try {
    const done = await api.cancelLabelled(labels);
    notice(`Cancelled ${plural(done.count, "message")}.`, "ok");
  } catch (error) {
    failed(error);
  }
  pager.reset();
  load(main);
}
