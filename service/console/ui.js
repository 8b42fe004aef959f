// Pieces every view uses: tables, times, labels, dialogs, the notice line.

import { $, append, clear, h } from "./dom.js";
import { labelText, localTime, utcTime } from "./format.js";

export function button(text, handler, attrs = {}) {
  return h("button", { type: "button", ...attrs, on: { click: handler } }, text);
}

// A time as the viewer reads it, with UTC beneath.
export function when(iso) {
  return h("span", { class: "when" }, h("span", {}, localTime(iso)), h("small", {}, utcTime(iso)));
}

export function labelList(labels) {
  return h("span", { class: "labels" }, labelText(labels).map((text) => h("span", { class: "label" }, text)));
}

export function code(text) {
  return h("code", {}, text);
}

// columns: [{title, cell: row => node or text, class?}]; rows get data-id = key(row).
export function table(columns, rows, key) {
  if (rows.length === 0) return h("p", { class: "empty" }, "Nothing here.");
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.class }, c.title)))),
    h("tbody", {}, rows.map((row) =>
      h("tr", { "data-id": key(row) }, columns.map((c) => h("td", { class: c.class }, c.cell(row)))))),
  );
}

export function notice(text, kind = "info") {
  const line = $("#notice");
  line.className = `notice ${kind}`;
  line.textContent = text;
}

export function failed(error) {
  notice(error.message ?? String(error), "error");
}

// A modal confirmation; resolves true when the action button is pressed.
export function confirmDialog({ title, body, action, danger = true }) {
  const dialog = $("#confirm");
  clear(dialog);
  return new Promise((resolve) => {
    const close = (answer) => {
      dialog.close();
      resolve(answer);
    };
    append(dialog, [
      h("h2", {}, title),
      h("div", { class: "dialog-body" }, body),
      h("div", { class: "actions" },
        button("Keep", () => close(false), { class: "secondary", id: "confirm-no" }),
        button(action, () => close(true), { class: danger ? "danger" : "", id: "confirm-yes" })),
    ]);
    dialog.addEventListener("cancel", () => resolve(false), { once: true });
    dialog.showModal();
  });
}

export function detailDialog(title, ...content) {
  const dialog = $("#detail");
  clear(dialog);
  append(dialog, [
    h("div", { class: "dialog-head" }, h("h2", {}, title), button("Close", () => dialog.close(), { class: "secondary", id: "detail-close" })),
    h("div", { class: "dialog-body" }, content),
  ]);
  dialog.showModal();
}

// Field list for a detail view: [[name, value node or text]].
export function fields(rows) {
  return h("dl", { class: "fields" }, rows.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value ?? "—")]));
}

export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

// Previous/next over cursor pages: `stack` holds the cursors of the pages before.
export class Pager {
  constructor(reload) {
    this.reload = reload;
    this.stack = [];
    this.cursor = null;
    this.next = null;
  }

  reset() {
    this.stack = [];
    this.cursor = null;
  }

  controls(shown) {
    return h("div", { class: "pager" },
      button("Previous", () => { this.cursor = this.stack.pop() ?? null; this.reload(); },
        { disabled: this.stack.length === 0, class: "secondary", id: "page-previous" }),
      h("span", {}, `page ${this.stack.length + 1} · ${shown} shown`),
      button("Next", () => { this.stack.push(this.cursor); this.cursor = this.next; this.reload(); },
        { disabled: !this.next, class: "secondary", id: "page-next" }));
  }
}
