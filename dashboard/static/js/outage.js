// The page during an outage: once the server stops streaming, every figure is greyed and a
// note under the header says how old they are, and system health reads UNKNOWN (the page cannot
// know it), until a live connection is back.

import { $, setText } from "./dom.js";
import { duration, timeOf } from "./format.js";

const WHY = {
  stopping: "The server is stopping",
  reconnecting: "Connection to the server lost",
  offline: "Offline",
  ended: "Session ended",
};

/** True while the page's figures are not live (read by panels that render health). */
export function isStale() {
  return document.body.classList.contains("is-stale");
}

/**
 * `onChange()` runs when the page turns stale or live again (the header re-renders health).
 * Returns `status(s)`, socket.js's per-second callback, and `fresh(ms)` for an HTTP snapshot.
 */
export function createOutage({ onChange }) {
  const note = $("#stale-note");
  const text = $("#stale-note-text");
  let lastData = 0;
  let stale = false;

  function status(s) {
    lastData = Math.max(lastData, s.lastMsg || 0);
    const now = Date.now();
    const next = s.state !== "connected";
    if (next) {
      const why = WHY[s.state] || "Not live";
      const age = lastData
        ? `figures are from ${timeOf(lastData)} (${duration(now - lastData)} old)`
        : "no figures received yet";
      setText(text, `${why} — ${age} and may be wrong. Health UNKNOWN.`);
      note.dataset.state = s.state;
    }
    note.hidden = !next;
    if (next !== stale) {
      stale = next;
      document.body.classList.toggle("is-stale", stale);
      onChange();
    }
  }

  return {
    status,
    fresh(ms) {
      lastData = Math.max(lastData, ms);
    },
  };
}
