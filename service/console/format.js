// Times in the viewer's zone and in UTC, durations and counts, all as plain strings.

export const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

const local = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export function localTime(iso) {
  return iso ? local.format(new Date(iso)) : "—";
}

// UTC in ISO order (2026-01-31 09:30:00 UTC): no day/month ambiguity.
export function utcTime(iso) {
  return iso ? `${new Date(iso).toISOString().slice(0, 19).replace("T", " ")} UTC` : "";
}

export function clockTime(date) {
  return clock.format(date);
}

export function seconds(value) {
  if (value === null || value === undefined) return "—";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  return `${(value / 60).toFixed(1)} min`;
}

export function count(value) {
  return value === null || value === undefined ? "—" : value.toLocaleString();
}

export function labelText(labels) {
  return Object.entries(labels ?? {}).map(([name, value]) => `${name}:${value}`);
}

// "name:value, name:value" typed in a filter box, as the API's label=name:value list.
export function parseLabels(text) {
  return text.split(/[\n,]/).map((part) => part.trim()).filter(Boolean);
}

export function every(seconds) {
  if (seconds % 86400 === 0) return `every ${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `every ${seconds / 3600} h`;
  if (seconds % 60 === 0) return `every ${seconds / 60} min`;
  return `every ${seconds} s`;
}

// "1 dead letter", "3 dead letters" (a count that is already text passes through).
export function plural(n, one, many = `${one}s`) {
  return `${count(n)} ${n === 1 ? one : many}`;
}
