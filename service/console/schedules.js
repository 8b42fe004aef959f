// Recurring schedules: when each fires next, pause and resume, delete.

import { api } from "./api.js";
import { append, clear, h } from "./dom.js";
import { every, parseLabels, plural } from "./format.js";
import {
  Pager, button, code, confirmDialog, detailDialog, failed, fields, json, labelList, notice,
  table, when,
} from "./ui.js";

const filter = { labels: "" };
let pager;

export function schedulesView(main) {
  pager = new Pager(() => load(main));
  load(main);
}

function filterForm(main) {
  const labels = h("input", {
    id: "schedule-labels", name: "labels", value: filter.labels, placeholder: "name:value",
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
    h("button", { type: "submit" }, "Filter"),
    button("Refresh", () => load(main), { class: "secondary", id: "schedule-refresh" }));
}

const rule = (s) => (s.cron ? h("span", {}, code(s.cron), ` (${s.timezone})`) : every(s.every));

async function load(main) {
  let page;
  try {
    page = await api.schedules({ labels: parseLabels(filter.labels), cursor: pager.cursor });
  } catch (error) {
    failed(error);
    return;
  }
  pager.next = page.nextCursor;
  const rows = page.schedules;
  clear(main);
  append(main, [
    h("h1", {}, "Schedules"),
    filterForm(main),
    h("p", { class: "summary" }, plural(page.count, "schedule")),
    table([
      { title: "Schedule", cell: (s) => button(s.scheduleId, () => showSchedule(s.scheduleId), { class: "link", "data-action": "detail" }) },
      { title: "Fires", cell: rule },
      { title: "Next run", cell: (s) => (s.paused ? h("span", { class: "paused" }, "paused") : when(s.nextRun)) },
      { title: "Labels", cell: (s) => labelList(s.labels) },
      { title: "Webhook", cell: (s) => code(s.webhookUrl), class: "url" },
      { title: "", cell: (s) => h("span", { class: "row-actions" },
        s.paused
          ? button("Resume", () => setPaused(main, s.scheduleId, false), { class: "small", "data-action": "resume" })
          : button("Pause", () => setPaused(main, s.scheduleId, true), { class: "secondary small", "data-action": "pause" }),
        button("Delete", () => remove(main, s.scheduleId), { class: "danger small", "data-action": "delete" })) },
    ], rows, (s) => s.scheduleId),
    pager.controls(rows.length),
  ]);
}

async function showSchedule(id) {
  let s;
  try {
    s = await api.schedule(id);
  } catch (error) {
    failed(error);
    return;
  }
  detailDialog(`Schedule ${s.scheduleId}`,
    fields([
      ["Fires", rule(s)],
      ["State", s.paused ? "paused" : "active"],
      ["Webhook", h("span", {}, `${s.method} `, code(s.webhookUrl))],
      ["Header names", s.headerNames.length ? s.headerNames.join(", ") : "—"],
      ["Labels", labelList(s.labels)],
      ["Starts", s.startAt ? when(s.startAt) : "—"],
      ["Ends", s.endAt ? when(s.endAt) : "—"],
      ["Last fire", s.lastFiredAt ? when(s.lastFiredAt) : "—"],
      ["Fires delivered", String(s.firesDelivered)],
      ["Fires dead-lettered", String(s.firesDeadLettered)],
      ["Created", when(s.createdAt)],
    ]),
    h("h3", {}, "Next runs"),
    s.nextRuns.length ? h("ol", { class: "next-runs" }, s.nextRuns.map((at) => h("li", {}, when(at)))) : h("p", {}, "None."),
    h("h3", {}, "Payload"),
    json(s.payload));
}

async function setPaused(main, id, paused) {
  try {
    await api.setPaused(id, paused);
    notice(`${paused ? "Paused" : "Resumed"} ${id}.`, "ok");
  } catch (error) {
    failed(error);
  }
  load(main);
}

async function remove(main, id) {
  const sure = await confirmDialog({
    title: "Delete this schedule?",
    body: h("p", {}, "Schedule ", code(id), " fires no more. Fires already due or in flight finish."),
    action: "Delete schedule",
  });
  if (!sure) return;
  try {
    await api.deleteSchedule(id);
    notice(`Deleted ${id}.`, "ok");
  } catch (error) {
    failed(error);
  }
  load(main);
}
