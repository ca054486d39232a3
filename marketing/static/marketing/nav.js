// The header's compact menu on narrow screens: a real button (keyboard and screen readers for free),
// aria-expanded tells its state, Escape closes it and gives the focus back. Without this script the
// menu is simply shown in full (the toggle stays hidden).
(function () {
  "use strict";
  var header = document.getElementById("mk-header");
  var toggle = document.getElementById("mk-menu-toggle");
  var menu = document.getElementById("mk-menu");
  if (!header || !toggle || !menu) return;

  function setOpen(open) {
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    header.setAttribute("data-menu", open ? "open" : "closed");
  }
  toggle.hidden = false;
  setOpen(false);
  toggle.addEventListener("click", function () {
    setOpen(toggle.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      toggle.focus();
    }
  });
  // A link followed inside the page (#demo) closes the menu, as does a click elsewhere.
  menu.addEventListener("click", function (e) {
    if (e.target.closest("a")) setOpen(false);
  });
  document.addEventListener("click", function (e) {
    if (!header.contains(e.target)) setOpen(false);
  });
})();
