// Kill switch and reset dialogs, plus the generic confirm dialog other panels use.

import { $, $$, ackError, el, toast } from "../dom.js";
import { dateTimeOf } from "../format.js";

const LEVEL_TEXT = {
  pause: "KILL-SWITCH PAUSE (latched) — no new positions until an admin resets it; exits and open orders continue.",
  halt: "HALT — cancel ALL open orders and accept no new ones.",
  flatten: "FLATTEN — halt, cancel all orders, then CLOSE ALL POSITIONS at market.",
};

function showResult(node, resp, okText) {
  node.replaceChildren();
  node.className = `result ${resp.ok ? "result-ok" : "result-err"}`;
  node.append(resp.ok ? okText : `Refused — ${ackError(resp)}`);
  node.hidden = false;
}

/**
 * Ask the operator to confirm; resolves true on confirm. A destructive (`danger`) action
 * opens with the safe button focused, so Enter keeps things as they are.
 */
export function confirmAction(
  message,
  { title = "Confirm", okText = "Confirm", cancelText = "Cancel", danger = false },
) {
  const dlg = $("#confirm-dialog");
  $("#confirm-title").textContent = title;
  $("#confirm-message").textContent = message;
  const ok = $("#confirm-ok");
  const cancel = $("#confirm-cancel");
  ok.textContent = okText;
  cancel.textContent = cancelText;
  ok.classList.toggle("btn-danger", danger);
  ok.classList.toggle("btn-primary", !danger);
  return new Promise((resolve) => {
    const done = () => {
      dlg.removeEventListener("close", done);
      resolve(dlg.returnValue === "ok");
    };
    dlg.returnValue = "";
    dlg.addEventListener("close", done);
    dlg.showModal();
    (danger ? cancel : ok).focus();
  });
}

/**
 * Send a safety command over the socket, or over HTTP when the socket is down: stopping
 * trading must not depend on the websocket being up (same validation, roles and answers).
 */
async function safetyCommand(ctx, event, path, payload) {
  if (ctx.socket && ctx.socket.connected) return ctx.emit(event, payload);
  try {
    const r = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
    });
    const body = await r.json();
    return body && typeof body === "object"
      ? body
      : { ok: false, error: { code: `HTTP_${r.status}`, message: "unexpected answer" } };
  } catch {
    return {
      ok: false,
      error: { code: "offline", message: "The server is unreachable; use the CLI kill switch." },
    };
  }
}

/** Focus `target` when the dialog is still open and focus fell out of it: a button that was
 * just hidden or disabled leaves it on the page's body. */
function keepFocus(dlg, target) {
  if (!dlg.open || !target) return;
  const a = document.activeElement;
  if (!dlg.contains(a) || a.disabled || a.offsetParent === null) target.focus();
}

export function createKillSwitch(ctx) {
  const kill = {
    dlg: $("#kill-dialog"),
    form: $("#kill-form"),
    reason: $("#kill-reason"),
    next: $("#kill-next"),
    back: $("#kill-back"),
    confirm: $("#kill-confirm"),
    summary: $("#kill-summary"),
    result: $("#kill-result"),
    steps: $$("#kill-dialog [data-step]"),
  };
  const reset = {
    dlg: $("#reset-dialog"),
    form: $("#reset-form"),
    reason: $("#reset-reason"),
    confirm: $("#reset-confirm"),
    password: $("#reset-password"),
    submit: $("#reset-submit"),
    result: $("#reset-result"),
    current: $("#reset-current"),
  };

  for (const btn of $$("[data-close]")) {
    btn.addEventListener("click", () => btn.closest("dialog").close("cancel"));
  }

  // ---- kill switch ----
  const level = () => {
    const r = kill.form.querySelector("input[name=level]:checked");
    return r ? r.value : null;
  };
  const step = (k) => {
    for (const s of kill.steps) s.hidden = s.dataset.step !== String(k);
  };
  const validKill = () => !!level() && kill.reason.value.trim().length > 0;

  const killButton = $("#kill-switch-btn");
  // Whoever opened the dialog gets the focus back when it closes (keyboard users stay put).
  let opener = null;
  const openKill = () => {
    if (kill.dlg.open) {
      kill.reason.focus();
      return true;
    }
    // The role gate (main.js applyRole) disables the button for a viewer: same rule here.
    if (killButton.disabled) {
      toast("Your role cannot engage the kill switch.", "err");
      return false;
    }
    opener = document.activeElement;
    kill.form.reset();
    kill.result.hidden = true;
    kill.confirm.disabled = false;
    kill.next.disabled = true;
    step(1);
    kill.dlg.showModal();
    kill.reason.focus();
    return true;
  };
  kill.dlg.addEventListener("close", () => {
    if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
    opener = null;
  });
  killButton.addEventListener("click", openKill);
  // The skip link lands on the kill switch itself (the pinned one on a phone), not 19 Tabs on.
  $("#skip-link").addEventListener("click", (ev) => {
    const pin = $("#kill-pin");
    const target = pin.offsetParent !== null ? pin : killButton;
    if (target.disabled) return; // a viewer: let the link scroll to the Safety panel
    ev.preventDefault();
    target.focus();
    if (target === killButton) killButton.scrollIntoView({ block: "center" });
  });
  $("#kill-pin").addEventListener("click", openKill);
  // Alt+Shift+K from anywhere, inputs included: no browser or OS takes it (Ctrl+K and
  // Ctrl+Shift+K are the browsers' search and console). ev.code, so a Mac's Option layer,
  // which turns the key into another character, still counts.
  document.addEventListener("keydown", (ev) => {
    if (ev.altKey && ev.shiftKey && !ev.ctrlKey && !ev.metaKey && ev.code === "KeyK") {
      ev.preventDefault();
      openKill();
    }
  });
  kill.form.addEventListener("input", () => {
    kill.next.disabled = !validKill();
  });
  kill.next.addEventListener("click", () => {
    if (!validKill()) return;
    kill.summary.replaceChildren(
      el("strong", { text: LEVEL_TEXT[level()] }),
      el("span", { class: "muted", text: `Reason: ${kill.reason.value.trim()}` }),
    );
    kill.dlg.dataset.level = level();
    step(2);
    kill.confirm.focus();
  });
  kill.back.addEventListener("click", () => step(1));
  kill.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validKill() || kill.confirm.disabled) return;
    kill.confirm.disabled = true;
    kill.confirm.textContent = "Engaging…";
    const payload = { level: level(), reason: kill.reason.value.trim() };
    const resp = await safetyCommand(ctx, "kill_switch", "/api/kill-switch", payload);
    kill.confirm.textContent = "Confirm — engage";
    const cancelled =
      typeof resp.cancelled === "number" ? ` · ${resp.cancelled} order(s) cancelled` : "";
    const state = resp.trading_state ? ` Trading state ${resp.trading_state}.` : "";
    const durable =
      resp.durable === false ? ` NOT DURABLE: ${resp.warning || "not saved to disk yet"}` : "";
    // The server says what happened (nothing, when the level in force is already higher).
    const said = resp.message || `Kill switch engaged (${payload.level})${cancelled}.${state}`;
    const okText = `${said}${durable}`;
    showResult(kill.result, resp, okText);
    if (resp.ok && resp.durable === false) {
      toast("Kill switch engaged in memory but NOT saved to disk yet", "err", 12000);
      step(0);
    } else if (resp.ok && resp.changed === false) {
      toast(resp.message || "Nothing changed", "info", 8000);
      step(0);
    } else if (resp.ok) {
      toast(`Kill switch engaged: ${payload.level}`, "ok");
      step(0);
    } else {
      kill.confirm.disabled = false;
    }
    // The Confirm button may be hidden now: focus stays in the dialog, on the way out.
    const after = resp.ok ? kill.dlg.querySelector("[data-step='0'] [data-close]") : kill.confirm;
    keepFocus(kill.dlg, after);
  });

  // ---- reset ----
  const validReset = () =>
    reset.reason.value.trim().length > 0 &&
    reset.confirm.value === "RESET" &&
    reset.password.value.length > 0;

  const openReset = () => {
    reset.form.reset();
    reset.result.hidden = true;
    reset.submit.disabled = true;
    const s = ctx.snap.safety || {};
    const ks = s.kill_switch || {};
    reset.current.textContent = ks.engaged
      ? `Engaged: ${String(ks.level).toUpperCase()} by ${ks.actor || "?"} at ` +
        `${dateTimeOf(ks.since)} — “${ks.reason || ""}”`
      : `Trading state ${s.trading_state || "?"}${s.state_reason ? ` — ${s.state_reason}` : ""}`;
    reset.dlg.showModal();
    reset.reason.focus();
  };
  $("#reset-btn").addEventListener("click", openReset);
  $("#banner-reset-btn").addEventListener("click", openReset);
  reset.form.addEventListener("input", () => {
    reset.submit.disabled = !validReset();
  });
  reset.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validReset()) return;
    reset.submit.disabled = true;
    const payload = {
      reason: reset.reason.value.trim(),
      confirm: reset.confirm.value,
      password: reset.password.value,
    };
    // The password must not linger in the DOM whatever the outcome.
    reset.password.value = "";
    const resp = await safetyCommand(ctx, "reset_kill_switch", "/api/kill-switch/reset", payload);
    const said = resp.message || `Kill switch reset: trading ${resp.trading_state || "?"}.`;
    showResult(reset.result, resp, said);
    if (resp.ok) toast(said, "ok", 8000);
    // Reset stays disabled until the form is valid again: focus goes to Close, not the body.
    keepFocus(reset.dlg, reset.dlg.querySelector("[data-close]"));
  });
  reset.dlg.addEventListener("close", () => {
    reset.password.value = "";
  });

  // An alert's link opens the page at /?kill=1: the dialog opens once the first snapshot has
  // set the role, and the address loses the flag so a reload does not open it again.
  let fromLink = new URLSearchParams(window.location.search).get("kill") === "1";
  const snapshot = () => {
    if (!fromLink) return;
    fromLink = false;
    const url = new URL(window.location.href);
    url.searchParams.delete("kill");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    openKill();
  };

  return { snapshot, events: {}, openKill };
}
