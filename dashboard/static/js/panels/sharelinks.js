// Share links (admin only): list read-only links, create one (its URL is shown once) and revoke.

import { $, ackError, el, setText, toast } from "../dom.js";
import { dateTimeOf, duration } from "../format.js";
import { confirmAction } from "./killswitch.js";

const API = "/api/share-links";
const MIN_HOURS = 1;
const MAX_HOURS = 168;
// Links expire on their own: re-render now and then so "active" turns into "expired".
const RERENDER_MS = 30000;

/** fetch → {ok, ...body} or {ok: false, error}; never throws. */
async function call(method, url, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    // The server refuses any other body type (the cross-site guard).
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const r = await fetch(url, init);
    let data = null;
    try {
      data = await r.json();
    } catch {
      data = null;
    }
    if (r.ok && data && data.ok !== false) return data;
    const error = (data && data.error) || { code: `HTTP ${r.status}`, message: r.statusText };
    return { ok: false, error };
  } catch {
    return { ok: false, error: { code: "offline", message: "cannot reach the server" } };
  }
}

/** "active" | "expired" | "revoked", judged now (the list may be minutes old). */
export function linkState(link, now = Date.now()) {
  if (link.revoked_ts) return "revoked";
  return link.expires_ts > now ? "active" : "expired";
}

const STATE_CHIP = { active: "chip-ok", expired: "chip-muted", revoked: "chip-danger" };

export function createShareLinks(ctx) {
  const n = {
    panel: $("#share-panel"),
    form: $("#share-form"),
    hours: $("#share-hours"),
    note: $("#share-note"),
    create: $("#share-create"),
    result: $("#share-result"),
    url: $("#share-url"),
    copy: $("#share-copy"),
    copied: $("#share-copied"),
    status: $("#share-status"),
    tbody: $("#share-table tbody"),
    count: $("#share-count"),
    refresh: $("#share-refresh"),
  };
  let links = [];
  let loaded = false;
  let loading = null;
  let timer = null;

  const isAdmin = () => ctx.role() === "admin";

  function stateCell(link) {
    const state = linkState(link);
    const td = el("td", {}, el("span", { class: `chip ${STATE_CHIP[state]}`, text: state }));
    if (state === "revoked" && link.revoked_by) {
      td.title = `Revoked by ${link.revoked_by} at ${dateTimeOf(link.revoked_ts)}`;
    }
    return td;
  }

  function expiresCell(link) {
    const left = link.expires_ts - Date.now();
    const text = dateTimeOf(link.expires_ts);
    return el(
      "td",
      { class: "mono muted-num" },
      text,
      linkState(link) === "active" ? el("span", { class: "muted", text: ` (${duration(left)})` }) : null,
    );
  }

  function actionCell(link) {
    const td = el("td", { class: "act" });
    if (linkState(link) !== "active") return td;
    const btn = el("button", {
      type: "button",
      class: "btn btn-xs btn-outline-danger",
      text: "Revoke",
      dataset: { id: link.id, testid: "share-revoke" },
    });
    btn.addEventListener("click", () => revoke(link, btn));
    td.append(btn);
    return td;
  }

  function render() {
    const rows = links.map((link) =>
      el(
        "tr",
        { dataset: { id: link.id, state: linkState(link) } },
        el("td", { class: "mono", text: link.id }),
        el("td", { class: "wrap", text: link.note || "—" }),
        el("td", { class: "mono", text: link.created_by || "" }),
        el("td", { class: "mono muted-num", text: dateTimeOf(link.created_ts) }),
        expiresCell(link),
        stateCell(link),
        actionCell(link),
      ),
    );
    if (!rows.length) {
      rows.push(el("tr", { class: "empty-row" }, el("td", { colspan: 7, text: "No share links" })));
    }
    n.tbody.replaceChildren(...rows);
    setText(n.count, String(links.filter((l) => linkState(l) === "active").length));
  }

  function load() {
    if (!isAdmin()) return Promise.resolve();
    if (loading) return loading;
    loading = call("GET", API).then((resp) => {
      loading = null;
      if (!resp.ok) {
        setText(n.status, `Share links unavailable — ${ackError(resp)}`);
        n.status.classList.add("err");
        return;
      }
      links = Array.isArray(resp.links) ? resp.links : [];
      loaded = true;
      setText(n.status, "");
      n.status.classList.remove("err");
      render();
    });
    return loading;
  }

  async function revoke(link, btn) {
    const label = link.note ? `"${link.note}" (${link.id})` : link.id;
    const yes = await confirmAction(
      `Revoke share link ${label}? Anyone watching through it is disconnected at once.`,
      { title: "Revoke share link", okText: "Revoke", danger: true },
    );
    if (!yes) return;
    btn.disabled = true;
    const resp = await call("DELETE", `${API}/${encodeURIComponent(link.id)}`);
    if (resp.ok) toast(`Share link ${link.id} revoked`, "ok");
    else toast(`Revoke failed — ${ackError(resp)}`, "err", 8000);
    await load();
  }

  function showUrl(url) {
    n.url.value = url;
    n.copied.hidden = true;
    n.result.hidden = false;
    n.url.focus();
    n.url.select();
  }

  async function copyUrl() {
    const url = n.url.value;
    try {
      // Only in a secure context (https or localhost); elsewhere fall back to selecting it.
      await navigator.clipboard.writeText(url);
      setText(n.copied, "Copied to the clipboard.");
    } catch {
      n.url.focus();
      n.url.select();
      setText(n.copied, "Selected: press Ctrl+C (⌘C) to copy.");
    }
    n.copied.hidden = false;
  }

  n.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const hours = Number(n.hours.value);
    if (!Number.isFinite(hours) || hours < MIN_HOURS || hours > MAX_HOURS) {
      toast(`Hours must be between ${MIN_HOURS} and ${MAX_HOURS}.`, "err");
      n.hours.focus();
      return;
    }
    n.create.disabled = true;
    const resp = await call("POST", API, { ttl_hours: hours, note: n.note.value.trim() });
    n.create.disabled = false;
    if (!resp.ok) {
      toast(`Share link not created — ${ackError(resp)}`, "err", 8000);
      return;
    }
    n.note.value = "";
    showUrl(resp.url);
    await load();
  });
  n.copy.addEventListener("click", copyUrl);
  n.refresh.addEventListener("click", load);
  $("#share-dismiss").addEventListener("click", () => {
    // The token is a bearer secret: do not leave it on screen longer than needed.
    n.url.value = "";
    n.result.hidden = true;
  });

  return {
    snapshot() {
      if (!isAdmin()) {
        clearInterval(timer);
        timer = null;
        return;
      }
      load();
      if (!timer) timer = setInterval(() => loaded && render(), RERENDER_MS);
    },
    events: {},
  };
}
