// Dead letters: why each failed, redrive or drop one, redrive every one with a label.

import { api, collectIds } from "./api.js";
import { append, clear, h } from "./dom.js";
import { count, parseLabels, plural } from "./format.js";
import { showMessage } from "./messages.js";
import { Pager, button, code, confirmDialog, failed, labelList, notice, table, when } from "./ui.js";

const filter = { labels: "" };
let pager;

export function deadLettersView(main) {
  pager = new Pager(() => load(main));
  load(main);
}

function filterForm(main) {
  const labels = h("input", {
    id: "dead-labels", name: "labels", value: filter.labels, placeholder: "name:value, name:value",
    "aria-label": "Labels",
  });
  const apply = (event) => {
    event.preventDefault();
    filter.labels = labels.value;
    pager.reset();
    load(main);
  };
  return h("form", { class: "filters", on: { submit: apply } },
    h("label", {}, "Labels ", labels),
    h("button", { type: "submit", id: "dead-filter" }, "Filter"),
    button("Refresh", () => load(main), { class: "secondary", id: "dead-refresh" }),
    parseLabels(filter.labels).length > 0
      ? button("Redrive all with these labels…", () => redriveLabelled(main), { id: "redrive-labelled" })
      : null);
}

async function load(main) {
  let page;
  try {
    page = await api.deadLetters({ labels: parseLabels(filter.labels), cursor: pager.cursor });
  } catch (error) {
    failed(error);
    return;
  }
  pager.next = page.nextCursor;
  const rows = page.deadLetters;
  clear(main);
  append(main, [
    h("h1", {}, "Dead letters"),
    filterForm(main),
    h("p", { class: "summary" }, `${plural(page.count, "dead letter")}${filter.labels ? " at most (counted by the first label)" : ""}`),
    table([
      { title: "Message", cell: (r) => button(r.messageId, () => showMessage(r.messageId), { class: "link", "data-action": "detail" }) },
      { title: "Dead since", cell: (r) => when(r.deadAt) },
      { title: "Attempts", cell: (r) => String(r.attempts), class: "num" },
      { title: "Last error", cell: (r) => r.lastError ?? "—", class: "error-text" },
      { title: "Labels", cell: (r) => labelList(r.labels) },
      { title: "Webhook", cell: (r) => code(r.webhookUrl), class: "url" },
      { title: "", cell: (r) => h("span", { class: "row-actions" },
        button("Redrive", () => redrive(main, r.messageId), { class: "small", "data-action": "redrive" }),
        button("Delete", () => drop(main, r.messageId), { class: "danger small", "data-action": "delete" })) },
    ], rows, (r) => r.messageId),
    pager.controls(rows.length),
  ]);
}

async function redrive(main, id) {
  try {
    await api.redrive(id);
    notice(`Redriven ${id}: due now, attempts reset.`, "ok");
  } catch (error) {
    failed(error);
  }
  load(main);
}

async function drop(main, id) {
  const sure = await confirmDialog({
    title: "Delete this dead letter?",
    body: h("p", {}, "Dead letter ", code(id), " is dropped for good; its history says dead_lettered."),
    action: "Delete",
  });
  if (!sure) return;
  try {
    await api.dropDeadLetter(id);
    notice(`Deleted ${id}.`, "ok");
  } catch (error) {
    failed(error);
  }
  load(main);
}

// There is no bulk redrive in the API: list the matching ids, ask, then redrive each,
// a few at a time. A dead letter gone meanwhile (404) is counted, not an error.
async function redriveLabelled(main) {
  const labels = parseLabels(filter.labels);
  let found;
  try {
    found = await collectIds(api.deadLetters, { labels }, "deadLetters");
  } catch (error) {
    failed(error);
    return;
  }
  const sure = await confirmDialog({
    title: "Redrive every dead letter with these labels?",
    body: h("p", { id: "redrive-count" }, `${plural(found.ids.length, "dead letter")} with ${labels.join(" and ")}; each is delivered again now.`),
    action: `Redrive ${count(found.ids.length)}`,
    danger: false,
  });
  if (!sure) return;
  const tally = { done: 0, gone: 0, failed: 0 };
  const queue = [...found.ids];
  const worker = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      try {
        await api.redrive(id);
        tally.done += 1;
      } catch (error) {
        if (error.status === 404) tally.gone += 1;
        else tally.failed += 1;
      }
      notice(`Redriving… ${tally.done} of ${found.ids.length}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const kind = tally.failed ? "error" : "ok";
  notice(`Redriven ${tally.done}; ${tally.gone} already gone; ${tally.failed} failed.`, kind);
  pager.reset();
  load(main);
}
