// The console: sign-in, the navigation between views, sign-out.

import { api, token, whenUnauthorized } from "./api.js";
import { $, clear } from "./dom.js";
import { deadLettersView } from "./dead-letters.js";
import { viewerZone } from "./format.js";
import { messagesView } from "./messages.js";
import { overviewView } from "./overview.js";
import { schedulesView } from "./schedules.js";
import { notice } from "./ui.js";

const VIEWS = {
  overview: overviewView,
  messages: messagesView,
  "dead-letters": deadLettersView,
  schedules: schedulesView,
};

let stopView = null;

function route() {
  const name = window.location.hash.replace(/^#\/?/, "") || "overview";
  return Object.hasOwn(VIEWS, name) ? name : "overview";
}

function show() {
  stopView?.();
  stopView = null;
  const signedIn = Boolean(token.get());
  $("#signin").hidden = signedIn;
  $("#app").hidden = !signedIn;
  if (!signedIn) {
    $("#token").focus();
    return;
  }
  const name = route();
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.dataset.view === name);
  }
  stopView = VIEWS[name](clear($("#view"))) ?? null;
}

async function signIn(event) {
  event.preventDefault();
  const input = $("#token");
  const error = $("#signin-error");
  error.textContent = "";
  try {
    await api.check(input.value);
  } catch (failure) {
    error.textContent = failure.status === 401 ? "That token is not accepted." : failure.message;
    return;
  }
  token.set(input.value);
  input.value = "";
  notice("");
  show();
}

function signOut(message = "") {
  token.clear();
  stopView?.();
  stopView = null;
  clear($("#view"));
  $("#signin-error").textContent = message;
  show();
}

$("#signin-form").addEventListener("submit", signIn);
$("#signout").addEventListener("click", () => signOut());
$("#zone").textContent = `Times in ${viewerZone} and UTC`;
whenUnauthorized(() => signOut("The token was refused; sign in again."));
window.addEventListener("hashchange", () => {
  notice("");
  show();
});
show();
