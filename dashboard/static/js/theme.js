// Theme (dark/light) and color-blind-safe palette: state on <html>, remembered in localStorage.

const root = document.documentElement;
const listeners = new Set();

function store(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Private mode or disabled storage: the choice still applies for this page view.
  }
}

function notify() {
  for (const fn of listeners) {
    try {
      fn({ theme: theme.current(), colorBlind: theme.colorBlind() });
    } catch (err) {
      console.error("theme listener failed", err);
    }
  }
}

/** The theme object handed to every panel and to the market view. */
export const theme = {
  current() {
    return root.dataset.theme === "light" ? "light" : "dark";
  },
  colorBlind() {
    return root.dataset.cb === "1";
  },
  onChange(handler) {
    listeners.add(handler);
    return () => listeners.delete(handler);
  },
  setTheme(name) {
    root.dataset.theme = name === "light" ? "light" : "dark";
    store("vigil.theme", root.dataset.theme);
    notify();
  },
  setColorBlind(on) {
    root.dataset.cb = on ? "1" : "0";
    store("vigil.cb", root.dataset.cb);
    notify();
  },
};

/** Wire the two header toggles. */
export function mountThemeToggles(themeBtn, cbBtn) {
  const sync = () => {
    themeBtn.setAttribute("aria-pressed", String(theme.current() === "light"));
    themeBtn.title = theme.current() === "light" ? "Switch to dark theme" : "Switch to light theme";
    themeBtn.textContent = theme.current() === "light" ? "☾" : "☀";
    cbBtn.setAttribute("aria-pressed", String(theme.colorBlind()));
    cbBtn.classList.toggle("on", theme.colorBlind());
  };
  themeBtn.addEventListener("click", () =>
    theme.setTheme(theme.current() === "light" ? "dark" : "light"),
  );
  cbBtn.addEventListener("click", () => theme.setColorBlind(!theme.colorBlind()));
  theme.onChange(sync);
  sync();
}
