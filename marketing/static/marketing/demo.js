// The landing page's live demo. The server streams a WAV (16-bit mono PCM, its length unknown) as the
// engine makes it; this plays each piece the moment it arrives: its samples go into an AudioBuffer
// scheduled right after the previous one (Web Audio works alike in Chromium, Firefox and Safari).
// When the stream ends, the whole is kept in the <audio> element, to replay or save.
//
// For tests and the benchmark the page tells what happened, in order, in window.voicehubDemo.events:
// {type: "request" | "first_audio" | "complete" | "error", bytes: body bytes received so far, at: ms}.
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
  var AudioContextClass = window.AudioContext || window.webkitAudioContext;
  var context = null;
  var objectUrl = null;
  var sources = [];  // what is scheduled: stopped when Speak is pressed again
  var trace = window.voicehubDemo = { events: [] };
  function msg(name) { return form.getAttribute("data-msg-" + name); }  // translated in the template
  function record(type, bytes) {
    var event = { type: type, bytes: bytes, at: performance.now() };
    trace.events.push(event);
    form.dispatchEvent(new CustomEvent("demo:" + type, { detail: event }));
  }

  function say(message, state) {
    status.textContent = message;
    status.setAttribute("data-state", state || "");
  }
  function updateCount() {
    count.textContent = text.value.length + " / " + max;
  }
  text.addEventListener("input", updateCount);
  updateCount();

  // The WAV header: where the samples start and their rate (a "data" chunk of unknown length follows).
  function parseHeader(bytes) {
    var view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    var tag = function (at) { return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]); };
    if (bytes.length < 12) return null;
    if (tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error(msg("failed"));
    var at = 12, rate = 24000;
    while (at + 8 <= bytes.length) {
      var size = view.getUint32(at + 4, true);
      if (tag(at) === "fmt " && at + 16 <= bytes.length) rate = view.getUint32(at + 12, true);
      if (tag(at) === "data") return { start: at + 8, rate: rate };
      at += 8 + size;
    }
    return null;  // not all of it yet
  }

  // A WAV file with the real sizes, from the PCM received: what the <audio> element replays.
  function wavFile(pieces, length, rate) {
    var header = new DataView(new ArrayBuffer(44));
    var put = function (at, s) { for (var i = 0; i < 4; i++) header.setUint8(at + i, s.charCodeAt(i)); };
    put(0, "RIFF"); header.setUint32(4, 36 + length, true); put(8, "WAVE");
    put(12, "fmt "); header.setUint32(16, 16, true); header.setUint16(20, 1, true); header.setUint16(22, 1, true);
    header.setUint32(24, rate, true); header.setUint32(28, rate * 2, true); header.setUint16(32, 2, true);
    header.setUint16(34, 16, true); put(36, "data"); header.setUint32(40, length, true);
    return new Blob([header].concat(pieces), { type: "audio/wav" });
  }

  function play(response) {
    var reader = response.body.getReader();
    var head = new Uint8Array(0), format = null, carry = null;
    var pieces = [], length = 0, received = 0, next = 0, started = false;

    function schedule(pcm) {  // whole 16-bit samples, little-endian
      var samples = pcm.length / 2;
      if (!samples) return;
      var view = new DataView(pcm.buffer, pcm.byteOffset, pcm.byteLength);
      var buffer = context.createBuffer(1, samples, format.rate);
      var channel = buffer.getChannelData(0);
      for (var i = 0; i < samples; i++) channel[i] = view.getInt16(i * 2, true) / 32768;
      var source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(context.destination);
      next = Math.max(next, context.currentTime + 0.05);
      source.start(next);
      sources.push(source);
      next += buffer.duration;
      pieces.push(pcm);
      length += pcm.length;
      if (!started) {
        started = true;
        record("first_audio", received);
        say(msg("speaking"));
      }
    }
    function take(bytes) {
      if (!format) {
        var joined = new Uint8Array(head.length + bytes.length);
        joined.set(head); joined.set(bytes, head.length);
        format = parseHeader(joined);
        if (!format) { head = joined; return; }
        bytes = joined.subarray(format.start);
      }
      if (carry !== null) {  // an odd byte left from the last piece
        var whole = new Uint8Array(bytes.length + 1);
        whole[0] = carry; whole.set(bytes, 1);
        bytes = whole; carry = null;
      }
      if (bytes.length % 2) { carry = bytes[bytes.length - 1]; bytes = bytes.subarray(0, bytes.length - 1); }
      schedule(bytes.slice());
    }
    function pump() {
      return reader.read().then(function (step) {
        if (step.done) return;
        received += step.value.length;
        take(step.value);
        return pump();
      });
    }
    return pump().then(function () {
      record("complete", received);
      if (!started) throw new Error(msg("failed"));
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(wavFile(pieces, length, format.rate));
      audio.src = objectUrl;
      audio.hidden = false;
      say(msg("done"));
    }, function () {
      // The connection broke mid-way: what arrived still plays; say that the rest is missing.
      throw new Error(started ? msg("cut") : msg("failed"));
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    button.disabled = true;
    say(msg("working"));
    // Made (or resumed) inside the click: browsers let a page start sound only from a gesture.
    if (!context && AudioContextClass) context = new AudioContextClass();
    if (context && context.state === "suspended") context.resume();
    audio.pause();
    sources.forEach(function (source) { try { source.stop(); } catch (ignored) { /* never started */ } });
    sources = [];
    record("request", 0);
    fetch(form.action, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: JSON.stringify({ text: text.value, voice: voice.value }),
      credentials: "same-origin"
    }).then(function (response) {
      if (response.ok) {
        if (!context || !response.body) throw new Error(msg("failed"));
        return play(response);
      }
      return response.json().then(function (error) {
        var message = error.detail || msg("failed");
        if (error.code === "demo_limited") message = msg("limit") + " " + message;
        throw new Error(message);
      }, function () { throw new Error(msg("failed")); });
    }).catch(function (error) {
      record("error", 0);
      say(error.message || msg("failed"), "error");
    }).then(function () {
      button.disabled = false;
    });
  });
})();
