// Socket.IO connection: status indicator (connected / reconnecting / offline with message age),
// resync on reconnect, session-expiry detection and acknowledged emits that never queue offline.

import { io } from "../vendor/socket.io.esm.min.js";
import { setClassFrom, setText } from "./dom.js";
import { timeOf } from "./format.js";

const OFFLINE_AFTER_MS = 15000;
let leaving = false;

/**
 * Go to sign-in, once: a logout ends this page's socket too, so the button and the socket both
 * ask to leave, and a second navigation would abort the first one mid-flight.
 */
export function leaveForLogin() {
  if (leaving) return;
  leaving = true;
  window.location.assign("/login");
}
const LABELS = {
  connected: "Live",
  reconnecting: "Reconnecting",
  offline: "Offline",
  ended: "Session ended",
  stopping: "Server stopping",
};
const STATE_WAIT_MS = 3000;
const ACK_TIMEOUT_MS = 10000;
// Our own retries when socket.io will not retry by itself (server disconnect, refused connect).
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10000;

/**
 * Connect and keep the indicator current. `onSnapshot(snap)` runs for every initial_state
 * (and for a request_state answer when the server did not push one after connecting).
 * `onSessionEnded()` runs once when the server says the session is gone (logout elsewhere,
 * revoked share link, expiry); the socket then stops reconnecting.
 */
export function connect({ indicator, onSnapshot, onSessionEnded, onStatus }) {
  const socket = io({ transports: ["websocket"] });
  const status = { state: "reconnecting", lastMsg: 0, since: Date.now(), gotState: false };
  let retryMs = RETRY_MIN_MS;
  let retryTimer = null;
  let ended = false;
  const label = indicator.querySelector(".conn-label");
  const age = indicator.querySelector(".conn-age");

  const paint = () => {
    let s = status.state;
    if (s === "reconnecting" && Date.now() - status.since > OFFLINE_AFTER_MS) s = "offline";
    if (!navigator.onLine && s !== "ended") s = "offline";
    indicator.dataset.state = s;
    const states = ["is-connected", "is-reconnecting", "is-offline", "is-ended", "is-stopping"];
    setClassFrom(indicator, states, `is-${s}`);
    setText(label, LABELS[s]);
    if (status.lastMsg) {
      const secs = Math.max(0, Math.floor((Date.now() - status.lastMsg) / 1000));
      setText(age, secs < 1 ? "now" : `${secs}s ago`);
      indicator.classList.toggle("is-stale", s === "connected" && secs >= 5);
    } else {
      setText(age, "—");
    }
    // timeOf, not toLocaleTimeString: that one cost ~30 ms on first use, during page load.
    indicator.title = status.lastMsg
      ? `Last message ${timeOf(status.lastMsg)}`
      : "No message received yet";
    if (onStatus) onStatus({ state: s, lastMsg: status.lastMsg });
  };

  const setState = (s) => {
    if (status.state !== s) status.since = Date.now();
    status.state = s;
    paint();
  };

  socket.onAny(() => {
    status.lastMsg = Date.now();
  });
  // The server says it is shutting down (wsgi.py, on SIGTERM): not "Live" any more, even
  // though the socket stays open for a few seconds while the server drains.
  socket.on("system", (p) => {
    if (p && p.kind === "stopping" && status.state === "connected") setState("stopping");
  });

  socket.on("connect", () => {
    retryMs = RETRY_MIN_MS;
    setState("connected");
    status.gotState = false;
    // The server pushes initial_state on connect; ask explicitly if it has not arrived.
    setTimeout(() => {
      if (socket.connected && !status.gotState) requestState(socket).then(applyAnswer);
    }, STATE_WAIT_MS);
  });
  socket.on("disconnect", (reason) => {
    if (ended) return;
    setState("reconnecting");
    // The server closed it on purpose: usually the session ended. socket.io will not
    // reconnect after this reason, so either end the page's session or retry ourselves.
    if (reason === "io server disconnect") afterRefusal();
  });
  socket.on("connect_error", () => {
    if (ended) return;
    if (status.state === "connected") setState("reconnecting");
    // A refused connect (socket.active false) is not retried by socket.io either.
    afterRefusal();
  });

  async function afterRefusal() {
    const alive = await sessionAlive();
    if (ended) return;
    if (!alive) {
      ended = true;
      clearTimeout(retryTimer);
      socket.disconnect();
      setState("ended");
      if (onSessionEnded) onSessionEnded();
      else leaveForLogin();
      return;
    }
    if (socket.active || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      if (!ended && !socket.active) socket.connect();
    }, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  }
  socket.on("initial_state", (snap) => {
    status.gotState = true;
    onSnapshot(snap);
  });

  function applyAnswer(resp) {
    if (resp && resp.ok !== false && !status.gotState) {
      const snap = resp.snapshot || resp.state || resp;
      if (snap && snap.account) {
        status.gotState = true;
        onSnapshot(snap);
      }
    }
  }

  window.addEventListener("online", paint);
  window.addEventListener("offline", paint);
  setInterval(paint, 1000);
  paint();
  return socket;
}

let sessionCheck = null;

/**
 * False only when the server answers that this session is not (or no longer) logged in.
 * A network error or a 5xx means "unknown": keep reconnecting. One check at a time.
 */
function sessionAlive() {
  if (!sessionCheck) {
    sessionCheck = fetch("/api/state", { credentials: "same-origin", redirect: "manual" })
      .then((r) => !(r.status === 401 || r.status === 403 || r.type === "opaqueredirect"))
      .catch(() => true)
      .finally(() => {
        sessionCheck = null;
      });
  }
  return sessionCheck;
}

/** Ask for a fresh snapshot through the acknowledgement. */
export function requestState(socket) {
  return emitAck(socket, "request_state", {});
}

/**
 * Emit with an acknowledgement, resolving to the server's answer or a local error.
 * Refuses while disconnected: socket.io would otherwise buffer the emit and send it after a
 * reconnect, long after the operator gave up on it (a late order is worse than none).
 */
export function emitAck(socket, event, payload, timeoutMs = ACK_TIMEOUT_MS) {
  if (!socket.connected) {
    return Promise.resolve({
      ok: false,
      error: { code: "offline", message: "Not connected to the server; nothing was sent." },
    });
  }
  return new Promise((resolve) => {
    socket.timeout(timeoutMs).emit(event, payload, (err, resp) => {
      if (err) {
        resolve({
          ok: false,
          error: { code: "timeout", message: "No answer from the server; check the audit log." },
        });
      } else {
        resolve(resp || { ok: false, error: { code: "no_answer", message: "Empty answer" } });
      }
    });
  });
}
