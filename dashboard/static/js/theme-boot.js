// Applies the remembered theme and palette before first paint (classic script, runs in <head>).
(function () {
  var root = document.documentElement;
  try {
    var t = localStorage.getItem("vigil.theme");
    root.setAttribute("data-theme", t === "light" ? "light" : "dark");
    root.setAttribute("data-cb", localStorage.getItem("vigil.cb") === "1" ? "1" : "0");
  } catch (e) {
    root.setAttribute("data-theme", "dark");
    root.setAttribute("data-cb", "0");
  }
})();
