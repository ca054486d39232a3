// The hero's voice samples: each button plays a file rendered ahead of time (manage.py render_samples).
// One sample plays at a time; a button shows "loading" until its audio can play, "playing" while it does,
// and a second press stops it. The file is fetched when the pointer or the focus reaches the button, so a
// click usually finds it loaded already.
(function () {
  "use strict";
  var group = document.getElementById("samples");
  if (!group) return;
  var note = document.getElementById("samples-note");
  var players = {};  // voice -> Audio
  var current = null;  // the button whose sample is playing or loading

  function state(button, value) {
    button.setAttribute("data-state", value);
    button.setAttribute("aria-pressed", value === "idle" || value === "error" ? "false" : "true");
    button.setAttribute("aria-busy", value === "loading" ? "true" : "false");
  }
  function player(button) {
    var voice = button.getAttribute("data-voice");
    if (!players[voice]) {
      var audio = new Audio();
      audio.preload = "auto";
      audio.src = button.getAttribute("data-src");
      audio.addEventListener("playing", function () { if (current === button) state(button, "playing"); });
      audio.addEventListener("waiting", function () { if (current === button) state(button, "loading"); });
      audio.addEventListener("ended", function () { stop(button); });
      audio.addEventListener("error", function () {
        state(button, "error");
        if (current === button) current = null;
        note.textContent = group.getAttribute("data-msg-failed");
      });
      players[voice] = audio;
    }
    return players[voice];
  }
  function stop(button) {
    var audio = players[button.getAttribute("data-voice")];
    if (audio) { audio.pause(); audio.currentTime = 0; }
    state(button, "idle");
    if (current === button) current = null;
  }

  var buttons = group.querySelectorAll("button[data-src]");
  Array.prototype.forEach.call(buttons, function (button) {
    state(button, "idle");
    var warm = function () { player(button); };
    button.addEventListener("pointerenter", warm);
    button.addEventListener("focus", warm);
    button.addEventListener("click", function () {
      if (current === button) { stop(button); return; }
      if (current) stop(current);
      current = button;
      var audio = player(button);
      state(button, audio.readyState >= 3 ? "playing" : "loading");
      var playing = audio.play();
      if (playing && playing.catch) {
        playing.catch(function () { if (current === button) stop(button); });
      }
    });
  });
})();
