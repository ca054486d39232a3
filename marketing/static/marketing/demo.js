// The landing page's live demo: POST the text and voice, play the MP3 that comes back.
(function () {
  "use strict";
  var form = document.getElementById("demo-form");
  if (!form) return;
  var text = form.querySelector("#demo-text");
  var voice = form.querySelector("#demo-voice");
  var button = form.querySelector("#demo-speak");
  var status = form.querySelector("#demo-status");
  var count = form.querySelector("#demo-count");
  var audio = form.querySelector("#demo-audio");
  var max = parseInt(form.getAttribute("data-max"), 10);
  var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var objectUrl = null;
  function msg(name) { return form.getAttribute("data-msg-" + name); }  // translated in the template

  function say(message, state) {
    status.textContent = message;
    status.setAttribute("data-state", state || "");
  }
  function updateCount() {
    count.textContent = text.value.length + " / " + max;
  }
  text.addEventListener("input", updateCount);
  updateCount();

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    button.disabled = true;
    say(msg("working"));
    fetch(form.action, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: JSON.stringify({ text: text.value, voice: voice.value }),
      credentials: "same-origin"
    }).then(function (response) {
      if (response.ok) return response.blob();
      return response.json().then(function (error) {
        var message = error.detail || msg("failed");
        if (error.code === "demo_limited") message = msg("limit") + " " + message;
        throw new Error(message);
      }, function () { throw new Error(msg("failed")); });
    }).then(function (blob) {
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(blob);
      audio.src = objectUrl;
      audio.hidden = false;
      say(msg("done"));
      var playing = audio.play();
      if (playing && playing.catch) playing.catch(function () { say(msg("play")); });
    }).catch(function (error) {
      say(error.message, "error");
    }).then(function () {
      button.disabled = false;
    });
  });
})();
