// Safety Manager panel (limit gauges, breaker cards, state, entry/bot controls) and the
// page-wide HALTED banner.

import { $, ackError, el, schedule, setClassFrom, setGauge, setText, toast } from "../dom.js";
import { duration, money, num, timeOf } from "../format.js";
import { confirmAction } from "./killswitch.js";

/** "value / threshold unit" in the breaker's own unit. */
function valueOverThreshold(value, threshold, unit) {
  if (unit === "$" || unit === "USD") return `${money(value)} / ${money(threshold)}`;
  if (unit === "%") return `${num(value, 2)}% / ${num(threshold, 2)}%`;
  const digits = (x) => (Number.isInteger(x) ? 0 : 2);
  const text = `${num(value, digits(value))} / ${num(threshold, digits(threshold))}`;
  return unit ? `${text} ${unit}` : text;
}

function breakerCard() {
  const card = el("div", { class: "breaker", role: "group" });
  const name = el("span", { class: "breaker-name" });
  const chip = el("span", { class: "chip breaker-chip" });
  const desc = el("div", { class: "breaker-desc" });
  const val = el("span", { class: "breaker-val num" });
  const pct = el("span", { class: "breaker-pct num" });
  const gauge = el(
    "div",
    { class: "gauge", role: "meter", "aria-valuemin": 0, "aria-valuemax": 100 },
    el("div", { class: "gauge-fill" }),
  );
  const trip = el("div", { class: "breaker-trip" });
  card.append(
    el("div", { class: "breaker-head" }, name, chip),
    desc,
    el("div", { class: "breaker-vals" }, val, pct),
    gauge,
    trip,
  );
  return { card, name, chip, desc, val, pct, gauge, trip };
}

export function createSafety(ctx) {
  const n = {
    state: $("#safety-trading-state"),
    paused: $("#entries-paused"),
    reason: $("#state-reason"),
    lossText: $("#daily-loss-text"),
    lossPct: $("#daily-loss-pct"),
    lossGauge: $("#daily-loss-gauge"),
    posText: $("#positions-text"),
    posPct: $("#positions-pct"),
    posGauge: $("#positions-gauge"),
    breakers: $("#breakers"),
    banner: $("#halted-banner"),
    bTitle: $("#hb-title"),
    bLevel: $("#hb-level"),
    bReason: $("#hb-reason"),
    bActor: $("#hb-actor"),
    bSince: $("#hb-since"),
    bDurable: $("#hb-durable"),
    bDurableText: $("#hb-durable-text"),
    pause: $("#pause-entries-btn"),
    resume: $("#resume-entries-btn"),
    start: $("#bot-start-btn"),
    stop: $("#bot-stop-btn"),
    strategy: $("#strategy-state"),
    ack: $("#ack-reconcile-btn"),
    recon: $("#reconcile-issues"),
    reconHead: $("#reconcile-head"),
    reconList: $("#reconcile-list"),
  };
  const cards = new Map();

  const command = (btn, event, label) => {
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      const resp = await ctx.emit(event, {});
      if (resp.ok) toast(`${label}: done`, "ok");
      else toast(`${label} failed — ${ackError(resp)}`, "err", 8000);
      renderControls();
    });
  };
  command(n.pause, "pause_entries", "Pause entries");
  command(n.resume, "resume_entries", "Resume entries");
  command(n.start, "bot_start", "Start bot");
  command(n.stop, "bot_stop", "Stop bot");
  // A mismatch between the store and the venue's own record (at start or while running) keeps
  // trading REDUCING until an admin has looked at the differences and says so.
  n.ack.addEventListener("click", async () => {
    const recon = (ctx.snap.safety || {}).reconciliation || {};
    const yes = await confirmAction(
      `The store and the venue disagree: ${recon.summary || "see the list"}`,
      { title: "Acknowledge reconciliation", okText: "Acknowledge" },
    );
    if (!yes) return;
    const resp = await ctx.emit("acknowledge_reconciliation", {
      reason: "acknowledged on the page",
    });
    if (resp.ok) toast("Reconciliation acknowledged", "ok");
    else toast(`Acknowledge failed — ${ackError(resp)}`, "err", 8000);
  });

  /** One line per difference: what the store holds against what the venue holds. */
  function issueRow(issue) {
    const what = String(issue.kind || "").replaceAll("_", " ");
    const subject = issue.order_id ? `order ${issue.order_id}` : issue.symbol || "";
    const sides =
      issue.store || issue.venue
        ? `store: ${issue.store || "—"} · venue: ${issue.venue || "—"}`
        : issue.message || "";
    return el(
      "li",
      { class: "reconcile-issue", dataset: { kind: issue.kind || "" }, title: issue.message || "" },
      el("span", { class: "reconcile-kind", text: what }),
      " ",
      el("span", { class: "reconcile-subject", text: subject }),
      el("div", { class: "reconcile-sides num", text: sides }),
    );
  }

  function renderReconciliation(s) {
    const recon = s.reconciliation && typeof s.reconciliation === "object" ? s.reconciliation : null;
    const issues = recon ? recon.issues || [] : [];
    n.recon.hidden = issues.length === 0;
    n.ack.hidden = issues.length === 0 || ctx.role() !== "admin";
    if (!issues.length) {
      n.reconList.replaceChildren();
      return;
    }
    setText(
      n.reconHead,
      `The store and the venue disagree (${issues.length}) since ${recon.since ? timeOf(recon.since) : "—"}`,
    );
    const key = JSON.stringify(issues);
    if (n.reconList.dataset.key === key) return;
    n.reconList.dataset.key = key;
    n.reconList.replaceChildren(...issues.map(issueRow));
  }

  function renderControls() {
    const s = ctx.snap.safety || {};
    const strategy = (ctx.snap.health || {}).strategy || "unknown";
    const canTrade = ctx.role() !== "viewer";
    n.pause.disabled = !canTrade || !!s.entries_paused;
    n.resume.disabled = !canTrade || !s.entries_paused;
    n.start.disabled = !canTrade || strategy === "running";
    n.stop.disabled = !canTrade || strategy === "stopped";
    setText(n.strategy, strategy);
    n.strategy.dataset.strategy = strategy;
  }

  function renderSafety() {
    const s = ctx.snap.safety;
    if (!s) return;
    const st = String(s.trading_state || "UNKNOWN");
    setText(n.state, st);
    n.state.dataset.state = st;
    n.paused.hidden = !s.entries_paused;
    setText(n.reason, s.state_reason || "");
    renderReconciliation(s);
    const dl = s.daily_loss || {};
    setText(n.lossText, `${money(dl.used)} / ${money(dl.limit)}`);
    setText(n.lossPct, `${num(dl.pct, 1)}%`);
    setGauge(n.lossGauge, dl.pct);
    n.lossGauge.setAttribute("aria-valuetext", `${n.lossText.textContent} (${n.lossPct.textContent})`);
    const p = s.positions || {};
    setText(n.posText, `${p.open ?? 0} / ${p.limit ?? "—"}`);
    setText(n.posPct, `${num(p.pct, 1)}%`);
    setGauge(n.posGauge, p.pct);
    n.posGauge.setAttribute("aria-valuetext", `${n.posText.textContent} (${n.posPct.textContent})`);
    renderBanner();
    renderControls();
  }

  function renderBanner() {
    const s = ctx.snap.safety || {};
    const ks = s.kill_switch || {};
    // A halt the server could not save yet still holds, but the operator must know.
    const notDurable = s.durable === false;
    const show = s.trading_state === "HALTED" || !!ks.engaged || notDurable;
    n.banner.hidden = !show;
    n.bDurable.hidden = !notDurable;
    setText(
      n.bDurableText,
      notDurable ? "— in force, but not yet saved to disk; the server keeps retrying" : "",
    );
    document.body.classList.toggle("is-halted", show);
    if (!show) return;
    const level = ks.engaged ? String(ks.level || "").toUpperCase() : "—";
    setText(
      n.bTitle,
      ks.engaged ? `KILL SWITCH ENGAGED · ${level}` : `TRADING ${s.trading_state || "HALTED"}`,
    );
    setText(n.bLevel, ks.engaged ? level : s.trading_state || "HALTED");
    setText(n.bReason, (ks.engaged ? ks.reason : s.state_reason) || s.state_reason || "—");
    setText(n.bActor, (ks.engaged && ks.actor) || "system");
    const since = ks.engaged ? ks.since : null;
    setText(n.bSince, since ? `${timeOf(since)} (${duration(Date.now() - since)} ago)` : "—");
  }

  function renderBreakers() {
    const list = ctx.snap.breakers || [];
    const seen = new Set();
    let prev = null;
    for (const b of list) {
      seen.add(b.name);
      let c = cards.get(b.name);
      if (!c) {
        c = breakerCard();
        cards.set(b.name, c);
      }
      const tripped = !!b.triggered;
      c.card.dataset.breaker = b.name;
      c.card.dataset.testid = `breaker-${b.name}`;
      c.card.classList.toggle("tripped", tripped);
      setText(c.name, String(b.name).replaceAll("_", " "));
      setText(c.chip, tripped ? "TRIPPED" : "ARMED");
      setClassFrom(c.chip, ["chip-danger", "chip-ok"], tripped ? "chip-danger" : "chip-ok");
      setText(c.desc, b.description || "");
      setText(c.val, valueOverThreshold(b.value, b.threshold, b.unit));
      setText(c.pct, `${num(b.pct, 0)}%`);
      setGauge(c.gauge, tripped ? Math.max(100, b.pct || 0) : b.pct);
      // A gauge says what it measures and its value, not only a bare percentage.
      const label = String(b.name).replaceAll("_", " ");
      c.card.setAttribute("aria-label", `Breaker ${label}: ${tripped ? "tripped" : "armed"}`);
      c.gauge.setAttribute("aria-label", `${label} used`);
      c.gauge.setAttribute(
        "aria-valuetext",
        `${valueOverThreshold(b.value, b.threshold, b.unit)} (${num(b.pct, 0)}%)`,
      );
      setText(
        c.trip,
        tripped ? `Tripped ${b.since ? timeOf(b.since) : ""} → ${b.action || "—"}` : "",
      );
      c.card.title = `${b.name}: ${b.description || ""}\nAction on trip: ${b.action || "—"}`;
      const want = prev ? prev.nextSibling : n.breakers.firstChild;
      if (want !== c.card) n.breakers.insertBefore(c.card, want);
      prev = c.card;
    }
    for (const [name, c] of cards) {
      if (!seen.has(name)) {
        c.card.remove();
        cards.delete(name);
      }
    }
    n.breakers.classList.toggle("is-empty", list.length === 0);
  }

  // The banner's "since" ages while halted, with no events arriving.
  setInterval(() => {
    if (!n.banner.hidden) schedule("safety:banner", renderBanner);
  }, 1000);

  const all = () => {
    renderSafety();
    renderBreakers();
  };
  return {
    snapshot: () => schedule("safety:all", all),
    renderControls,
    events: {
      safety_update: () => schedule("safety:state", renderSafety),
      breaker_update: () => schedule("safety:breakers", renderBreakers),
      kill_switch_activated: () => schedule("safety:state", renderSafety),
      kill_switch_reset: () => schedule("safety:state", renderSafety),
      system_health_update: () => schedule("safety:controls", renderControls),
    },
  };
}
