// Socket.IO connection: status indicator (connected / reconnecting / offline with message age),
// resync on reconnect, session-expiry detection and acknowledged emits that never queue offline.

import { io } from "../vendor/socket.io.esm.min.js";
import { setClassFrom, setText } from "./dom.js";

const OFFLINE_AFTER_MS = 15000;
const STATE_WAIT_MS = 3000;
const ACK_TIMEOUT_MS = 10000;

/**
 * Connect and keep the indicator current. `onSnapshot(snap)` runs for every initial_state
 * (and for a request_state answer when the server did not push one after connecting).
 */
export function connect({ indicator, onSnapshot }) {
  const socket = io({ transports: ["websocket"] });
  const status = { state: "reconnecting", lastMsg: 0, since: Date.now(), gotState: false };
  const label = indicator.querySelector(".conn-label");
  const age = indicator.querySelector(".conn-age");

  const paint = () => {
    let s = status.state;
    if (s === "reconnecting" && Date.now() - status.since > OFFLINE_AFTER_MS) s = "offline";
    if (!navigator.onLine) s = "offline";
    indicator.dataset.state = s;
    setClassFrom(indicator, ["is-connected", "is-reconnecting", "is-offline"], `is-${s}`);
    setText(label, s === "connected" ? "Live" : s === "reconnecting" ? "Reconnecting" : "Offline");
    if (status.lastMsg) {
      const secs = Math.max(0, Math.floor((Date.now() - status.lastMsg) / 1000));
      setText(age, secs < 1 ? "now" : `${secs}s ago`);
      indicator.classList.toggle("is-stale", s === "connected" && secs >= 5);
    } else {
      setText(age, "—");
    }
    indicator.title = status.lastMsg
      ? `Last message ${new Date(status.lastMsg).toLocaleTimeString()}`
      : "No message received yet";
  };

  const setState = (s) => {
    if (status.state !== s) status.since = Date.now();
    status.state = s;
    paint();
  };

  socket.onAny(() => {
    status.lastMsg = Date.now();
  });

  socket.on("connect", () => {
    setState("connected");
    status.gotState = false;
    // The server pushes initial_state on connect; ask explicitly if it has not arrived.
    setTimeout(() => {
      if (socket.connected && !status.gotState) requestState(socket).then(applyAnswer);
    }, STATE_WAIT_MS);
  });
  socket.on("disconnect", (reason) => {
    setState("reconnecting");
    // A server-side disconnect does not auto-reconnect in socket.io; do it ourselves.
    if (reason === "io server disconnect") setTimeout(() => socket.connect(), 1000);
  });
  socket.on("connect_error", () => {
    if (status.state === "connected") setState("reconnecting");
    checkSession();
  });
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

let lastSessionCheck = 0;

/** When the socket cannot connect, find out whether the session expired and go to login. */
async function checkSession() {
  if (Date.now() - lastSessionCheck < 10000) return;
  lastSessionCheck = Date.now();
  try {
    const r = await fetch("/api/state", { credentials: "same-origin", redirect: "manual" });
    if (r.status === 401 || r.status === 403 || r.type === "opaqueredirect") {
      window.location.assign("/login");
    }
  } catch {
    // Network down: the indicator already says so; keep retrying via socket.io.
  }
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
