// The project page's player: "Play from here" plays that paragraph's audio, then each rendered
// paragraph after it, in order, with one <audio> element. No inline script (CSP): loaded as a file.
(function () {
  "use strict";
  var player = document.getElementById("project-player");
  var audio = document.getElementById("project-audio");
  var now = document.getElementById("project-now");
  var stop = document.getElementById("project-stop");
  if (!player || !audio) return;
  var queue = [];
  var playing = null;
  // What was played, in order (paragraph ids): for the page's tests and for anyone debugging the queue.
  var state = (window.voicehubProject = { played: [], finished: false });

  function mark(item) {
    if (playing) playing.classList.remove("paragraph--playing");
    playing = item;
    if (item) item.classList.add("paragraph--playing");
  }

  function next() {
    var item = queue.shift();
    if (!item) {
      mark(null);
      state.finished = true;
      now.textContent = "Finished.";
      return;
    }
    mark(item);
    state.played.push(item.id);
    audio.src = item.getAttribute("data-audio");
    now.textContent = "Playing: " + (item.querySelector(".paragraph-text") || item).textContent.slice(0, 80);
    var started = audio.play();
    if (started && started.catch) started.catch(function () { now.textContent = "Press play to listen."; });
  }

  function playFrom(id) {
    var items = Array.prototype.slice.call(document.querySelectorAll(".paragraph[data-audio]"));
    var start = items.findIndex(function (item) { return item.id === "paragraph-" + id; });
    if (start < 0) return;
    queue = items.slice(start);
    state.finished = false;
    player.hidden = false;
    next();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-play-from]");
    if (button) playFrom(button.getAttribute("data-play-from"));
  });
  audio.addEventListener("ended", next);
  // While paragraphs render, look again every 5 s (a render's result is taken in when the page is
  // opened), unless something is playing: a reload would cut it off.
  if (document.querySelector('.paragraph[data-status="rendering"]')) {
    window.setInterval(function () {
      if (!playing) window.location.reload();
    }, 5000);
  }
  stop.addEventListener("click", function () {
    queue = [];
    audio.pause();
    mark(null);
    now.textContent = "Stopped.";
  });
})();
