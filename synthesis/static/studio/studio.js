/*
 * The studio: text in, speech out while it is still being made.
 *
 * Audio arrives over the /ws/tts/ websocket as raw 16-bit little-endian mono
 * PCM frames and is played through the Web Audio API, each frame scheduled
 * right after the previous one, so playback starts with the first sentence.
 * When synthesis is done the stored file (history) takes over for replay and
 * download. window.voicehubStudio exposes the run's state (tests read it).
 *
 * The bar at the bottom holds Generate/Stop, the count and the player: a
 * waveform drawn from the PCM as it arrives (the same samples the stored file
 * holds), a position readout, click/arrow-key seeking. The form (draft, voice,
 * speed, format, dictionary, SSML) is kept in localStorage under the user's
 * and organization's ids, so another account on this browser sees none of it.
 */
"use strict";
(function () {
  const root = document.getElementById("studio");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const text = $("text"), count = $("count"), left = $("left"), note = $("count-note");
  const speed = $("speed"), speedValue = $("speed-value"), format = $("format"), dictionary = $("dictionary"), ssml = $("ssml");
  const playButton = $("play"), waveform = $("waveform"), position = $("position");
  const generateButton = $("generate"), cancelButton = $("cancel");
  const progressWrap = $("progress-wrap"), progress = $("progress"), progressText = $("progress-text");
  const statusLine = $("status"), errorLine = $("error");
  const result = $("result"), resultAudio = $("result-audio"), download = $("download"), resultMeta = $("result-meta");
  const voiceList = $("voice-list"), voiceSearch = $("voice-search"), voiceCount = $("voice-count");
  const filters = Array.from(document.querySelectorAll("[data-filter]"));
  const voiceRows = Array.from(voiceList.querySelectorAll(".voice"));
  const maxChars = Number(root.dataset.maxChars);
  let charactersLeft = Number(root.dataset.left);

  const state = (window.voicehubStudio = {
    status: "idle", // idle | generating | done | cancelled | error
    firstChunkAt: null,
    doneAt: null,
    chunks: 0,
    bytes: 0,
    historyId: null,
    audioUrl: null,
    error: null,
    position: 0, // seconds, what the player shows
    duration: 0,
    peaks: 0, // waveform columns drawn
    restored: false, // whether a saved draft was put back on load
  });

  // --- character count ------------------------------------------------------

  // Code points, as the server counts them (an emoji is one character, not two).
  const characters = (value) => Array.from(value).length;

  function updateCount() {
    const n = characters(text.value);
    count.textContent = n.toLocaleString();
    left.textContent = Math.max(0, charactersLeft).toLocaleString();
    let problem = "";
    if (n > maxChars) problem = `Too long by ${(n - maxChars).toLocaleString()} characters for one request.`;
    else if (n > charactersLeft) problem = "More than this month's remaining characters.";
    note.textContent = problem;
    root.classList.toggle("is-over", problem !== "");
    generateButton.disabled = state.status === "generating" || !text.value.trim() || problem !== "";
  }

  // --- streamed playback ----------------------------------------------------

  let context = null, nextTime = 0, sources = [], carry = null, sampleRate = 24000;
  let streamStart = null, streamGap = 0;

  function audioContext() {
    // Created on the Generate click: browsers only let a user gesture start audio.
    if (!context) context = new (window.AudioContext || window.webkitAudioContext)();
    if (context.state === "suspended") context.resume();
    return context;
  }

  function playPcm(data) {
    let bytes = new Uint8Array(data);
    if (carry) {
      const joined = new Uint8Array(carry.length + bytes.length);
      joined.set(carry);
      joined.set(bytes, carry.length);
      bytes = joined;
      carry = null;
    }
    if (bytes.length % 2) {
      carry = bytes.slice(bytes.length - 1); // half a sample: keep it for the next frame
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    const samples = bytes.length / 2;
    if (!samples) return;
    const ctx = audioContext();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const buffer = ctx.createBuffer(1, samples, sampleRate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples; i++) channel[i] = view.getInt16(i * 2, true) / 32768;
    addPeaks(channel);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    // Back to back; a small lead when playback has run dry, so the start is not clipped.
    const at = Math.max(nextTime, ctx.currentTime + 0.05);
    if (streamStart === null) streamStart = at;
    else if (at > nextTime + 0.001) streamGap += at - nextTime; // ran dry: the position waits too
    source.start(at);
    nextTime = at + buffer.duration;
    sources.push(source);
    source.onended = () => { sources = sources.filter((s) => s !== source); };
  }

  function stopPlayback() {
    for (const source of sources) {
      try { source.stop(); } catch (e) { /* already ended */ }
    }
    sources = [];
    nextTime = 0;
    carry = null;
    streamStart = null;
    streamGap = 0;
    if (context && context.state === "suspended") context.resume();
    if (player.mode === "stream") player.mode = null;
  }

  // --- the player: waveform, position, seeking ------------------------------

  // One column per 20 ms of audio: its loudest sample. Kept as the audio arrives.
  const PEAK_SECONDS = 0.02;
  let peaks = [], peakCarry = 0, peakFill = 0;
  const player = { mode: null }; // null | "stream" (Web Audio, as it arrives) | "file" (the stored audio)

  function addPeaks(channel) {
    const per = Math.round(sampleRate * PEAK_SECONDS);
    for (let i = 0; i < channel.length; i++) {
      const value = Math.abs(channel[i]);
      if (value > peakCarry) peakCarry = value;
      if (++peakFill === per) { peaks.push(peakCarry); peakCarry = 0; peakFill = 0; }
    }
    state.duration = (peaks.length * per + peakFill) / sampleRate;
    state.peaks = peaks.length;
  }

  function resetPlayer() {
    peaks = []; peakCarry = 0; peakFill = 0;
    player.mode = null;
    resultAudio.pause();
    resultAudio.removeAttribute("src");
    Object.assign(state, { position: 0, duration: 0, peaks: 0 });
    showPosition();
  }

  const clock = (seconds) => {
    const s = Math.max(0, Math.floor(seconds || 0));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };

  function currentPosition() {
    if (player.mode === "file") return resultAudio.currentTime || 0;
    if (player.mode === "stream" && context && streamStart !== null) {
      return Math.min(state.duration, Math.max(0, context.currentTime - streamStart - streamGap));
    }
    return state.position;
  }

  function playing() {
    if (player.mode === "file") return !resultAudio.paused && !resultAudio.ended;
    if (player.mode === "stream") return context && context.state === "running" && sources.length > 0;
    return false;
  }

  function showPosition() {
    state.position = currentPosition();
    const duration = (player.mode === "file" && Number.isFinite(resultAudio.duration)) ? resultAudio.duration : state.duration;
    position.textContent = `${clock(state.position)} / ${clock(duration)}`;
    waveform.setAttribute("aria-valuemax", String(Math.round(duration)));
    waveform.setAttribute("aria-valuenow", String(Math.round(state.position)));
    waveform.setAttribute("aria-valuetext", duration ? `${clock(state.position)} of ${clock(duration)}` : "No audio yet");
    const seekable = Boolean(state.audioUrl) && duration > 0;
    waveform.setAttribute("aria-disabled", seekable ? "false" : "true");
    playButton.disabled = !(seekable || player.mode === "stream");
    const on = playing();
    playButton.textContent = on ? "❚❚" : "▶";
    playButton.setAttribute("aria-label", on ? "Pause" : "Play");
    draw(duration);
  }

  const colours = getComputedStyle(document.documentElement);
  function draw(duration) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(waveform.clientWidth * ratio)), height = Math.max(1, Math.round(waveform.clientHeight * ratio));
    if (waveform.width !== width || waveform.height !== height) { waveform.width = width; waveform.height = height; }
    const g = waveform.getContext("2d");
    g.clearRect(0, 0, width, height);
    if (!peaks.length) return;
    // What has arrived fills its share of the width (all of it while streaming), in columns ~3 px apart.
    const arrived = peaks.length * PEAK_SECONDS, span = Math.max(duration || 0, arrived);
    const used = width * (arrived / span), played = (state.position / span) * width;
    const columns = Math.max(1, Math.min(Math.floor(used / (3 * ratio)), peaks.length));
    const step = peaks.length / columns, w = used / columns;
    const accent = colours.getPropertyValue("--accent").trim() || "#3b3bd4";
    const rest = colours.getPropertyValue("--muted").trim() || "#4a4a55";
    for (let c = 0; c < columns; c++) {
      let peak = 0;
      const end = Math.max(Math.floor((c + 1) * step), Math.floor(c * step) + 1);
      for (let i = Math.floor(c * step); i < Math.min(peaks.length, end); i++) peak = Math.max(peak, peaks[i]);
      const x = c * w, bar = Math.max(ratio, Math.min(1, peak * 1.5) * (height - 4 * ratio));
      g.globalAlpha = x + w / 2 <= played ? 1 : 0.35;
      g.fillStyle = x + w / 2 <= played ? accent : rest;
      g.fillRect(x, (height - bar) / 2, Math.max(ratio, w - ratio), bar);
    }
    g.globalAlpha = 1;
    g.fillStyle = accent;
    g.fillRect(Math.min(width - 2 * ratio, played), 0, 2 * ratio, height);
  }

  let ticking = false;
  function tick() {
    showPosition();
    if (playing() || state.status === "generating") requestAnimationFrame(tick);
    else ticking = false;
  }
  function startTicking() {
    if (!ticking) { ticking = true; requestAnimationFrame(tick); }
  }

  function seek(seconds) {
    if (!state.audioUrl) return; // the stored file is what one can seek in; it exists once the take is done
    const duration = Number.isFinite(resultAudio.duration) ? resultAudio.duration : state.duration;
    const to = Math.min(Math.max(0, seconds), duration || 0);
    const wasPlaying = playing() || player.mode === "stream";
    if (player.mode === "stream") { for (const source of sources) { try { source.stop(); } catch (e) { /* ended */ } } sources = []; }
    player.mode = "file";
    resultAudio.currentTime = to;
    state.position = to;
    if (wasPlaying) resultAudio.play().catch(() => {});
    showPosition();
    startTicking();
  }

  function togglePlay() {
    if (player.mode === "stream" && (sources.length || state.status === "generating")) {
      if (!context) return;
      if (context.state === "running") context.suspend().then(showPosition);
      else context.resume().then(startTicking);
      return;
    }
    if (!state.audioUrl) return;
    if (player.mode !== "file") resultAudio.currentTime = 0; // the streamed take has ended: play the file from the start
    player.mode = "file";
    if (resultAudio.paused || resultAudio.ended) resultAudio.play().catch(() => {});
    else resultAudio.pause();
    startTicking();
  }

  // --- the socket -----------------------------------------------------------

  let socket = null, opening = null;

  function openSocket() {
    if (socket && socket.readyState === WebSocket.OPEN) return Promise.resolve(socket);
    if (socket && socket.readyState === WebSocket.CONNECTING) return opening;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + root.dataset.wsPath);
    ws.binaryType = "arraybuffer";
    ws.onmessage = onMessage;
    ws.onclose = () => {
      if (socket === ws) socket = null;
      if (state.status === "generating") fail("The connection to the server was lost before the audio was finished. Please try again.");
    };
    socket = ws;
    opening = new Promise((resolve, reject) => {
      ws.addEventListener("open", () => resolve(ws), { once: true });
      ws.addEventListener("error", () => reject(new Error("websocket error")), { once: true });
    });
    return opening;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function onMessage(event) {
    if (typeof event.data !== "string") {
      if (state.status !== "generating") return; // late frames of a cancelled run
      if (state.firstChunkAt === null) state.firstChunkAt = performance.now();
      state.chunks += 1;
      state.bytes += event.data.byteLength;
      playPcm(event.data);
      return;
    }
    let message;
    try { message = JSON.parse(event.data); } catch (e) { return; }
    switch (message.type) {
      case "started":
        sampleRate = message.sample_rate || 24000;
        player.mode = "stream";
        startTicking();
        setProgress(0, message.characters);
        say("Generating… playback starts with the first sentence.");
        break;
      case "progress":
        setProgress(message.characters_done, message.characters_total, message.seconds);
        break;
      case "done":
        state.doneAt = performance.now();
        finished(message);
        break;
      case "cancelled":
        charactersLeft -= message.character_cost || 0;
        end("cancelled");
        say(`Cancelled. ${(message.character_cost || 0).toLocaleString()} characters were charged for what was spoken.`);
        break;
      case "error":
        fail(message.detail || "Something went wrong; please try again.");
        break;
      default: // "job" and anything newer: not used by this page yet
        break;
    }
  }

  // --- the run --------------------------------------------------------------

  function say(message) { statusLine.textContent = message; }

  function setProgress(done, total, seconds) {
    progressWrap.hidden = false;
    progress.max = Math.max(total || 0, 1);
    progress.value = done || 0;
    progressText.textContent = `${(done || 0).toLocaleString()} of ${(total || 0).toLocaleString()} characters`
      + (seconds ? ` · ${seconds.toFixed(1)} s of audio` : "");
  }

  function busy(on) {
    cancelButton.hidden = !on;
    root.setAttribute("aria-busy", on ? "true" : "false");
    updateCount();
  }

  function end(status) {
    state.status = status;
    busy(false);
  }

  function fail(message) {
    stopPlayback();
    state.error = message;
    errorLine.textContent = message;
    errorLine.hidden = false;
    say("");
    end("error");
  }

  function finished(message) {
    charactersLeft -= message.character_cost || 0;
    state.historyId = message.history_id;
    state.audioUrl = message.audio_url;
    root.dataset.firstChunkBeforeDone = String(state.firstChunkAt !== null && state.firstChunkAt < state.doneAt);
    progress.value = progress.max;
    end("done");
    if (!message.audio_url) { say("Done."); return; } // not kept in history: nothing to replay
    resultAudio.src = message.audio_url;
    if (player.mode !== "stream") player.mode = "file";
    download.href = message.audio_url; // a download: the audio is served as an attachment
    resultMeta.textContent = `${(message.seconds || 0).toFixed(1)} s · ${String(message.format || "").toUpperCase()} · `
      + `${(message.character_cost || 0).toLocaleString()} characters · saved in History`;
    result.hidden = false;
    say("Done. Your audio is saved in History.");
    showPosition();
    // Bring the result into view (above the bar: #result's scroll-margin-bottom).
    const motion = window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
    result.scrollIntoView({ block: "nearest", behavior: motion });
  }

  async function generate() {
    const voice = voiceList.querySelector("input[name=voice]:checked");
    if (!voice) { fail("Choose a voice first."); return; }
    errorLine.hidden = true;
    result.hidden = true;
    stopPlayback();
    resetPlayer();
    audioContext();
    Object.assign(state, { status: "generating", firstChunkAt: null, doneAt: null, chunks: 0, bytes: 0, historyId: null, audioUrl: null, error: null });
    delete root.dataset.firstChunkBeforeDone;
    setProgress(0, characters(text.value));
    progressText.textContent = "Connecting…";
    busy(true);
    say("Connecting…");
    try {
      await openSocket();
    } catch (e) {
      fail("Could not reach the studio server. Check your connection and try again.");
      return;
    }
    const message = { type: "generate", text: text.value, voice: voice.value, speed: Number(speed.value), format: format.value };
    if (ssml && ssml.checked) message.text_type = "ssml";
    if (dictionary && dictionary.value) message.pronunciation_dictionary_locators = [{ pronunciation_dictionary_id: dictionary.value }];
    send(message);
  }

  function cancel() {
    if (state.status !== "generating") return;
    send({ type: "cancel" });
    stopPlayback();
    say("Cancelling…");
  }

  // --- voices ---------------------------------------------------------------

  function filterVoices() {
    const query = voiceSearch.value.trim().toLowerCase();
    let shown = 0;
    for (const row of voiceRows) {
      const visible = (!query || row.dataset.search.includes(query))
        && filters.every((select) => !select.value || row.dataset[select.dataset.filter] === select.value);
      row.hidden = !visible;
      if (visible) shown += 1;
    }
    voiceCount.textContent = shown === 1 ? "1 voice" : `${shown} voices`;
  }

  let preview = null, previewButton = null;
  function previewDone() {
    if (previewButton) {
      previewButton.classList.remove("is-loading");
      previewButton.removeAttribute("aria-busy");
      previewButton.textContent = "▶";
    }
    previewButton = null;
  }
  function playPreview(button) {
    const again = previewButton === button;
    if (preview) { preview.pause(); preview = null; }
    previewDone();
    if (again) { say(""); return; } // a second click on the same voice stops it
    const name = button.getAttribute("aria-label").replace(/^Preview /, "");
    // A saved voice's preview is its organization's own (a studio URL); the catalog's are public.
    const catalog = root.dataset.previewUrl.replace("VOICE", encodeURIComponent(button.dataset.voice));
    const url = button.dataset.preview || catalog;
    const audio = (preview = new Audio(url));
    previewButton = button;
    // "Loading" until the browser can play it; "Playing" only once it does.
    button.classList.add("is-loading");
    button.setAttribute("aria-busy", "true");
    say(`Loading a preview of ${name}…`);
    audio.addEventListener("canplay", () => {
      if (preview !== audio) return;
      button.classList.remove("is-loading");
      button.removeAttribute("aria-busy");
      button.textContent = "■";
      say(`Playing a preview of ${name}.`);
    }, { once: true });
    audio.addEventListener("ended", () => { if (preview === audio) { previewDone(); say(""); } });
    audio.play().catch(() => { if (preview === audio) { previewDone(); say(`The preview of ${name} could not be played.`); } });
  }

  // --- the form, kept per user ---------------------------------------------

  const storeKey = `voicehub.studio.u${root.dataset.user}.o${root.dataset.organization}`;
  function storage() {
    try { return window.localStorage; } catch (e) { return null; } // disabled: nothing is kept
  }
  function saveForm() {
    const store = storage();
    if (!store) return;
    const voice = voiceList.querySelector("input[name=voice]:checked");
    const form = { text: text.value, voice: voice ? voice.value : "", speed: speed.value, format: format.value,
      dictionary: dictionary ? dictionary.value : "", ssml: Boolean(ssml && ssml.checked) };
    try { store.setItem(storeKey, JSON.stringify(form)); } catch (e) { /* full or refused: not kept */ }
  }
  let saveTimer = null;
  function saveSoon() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveForm, 400);
  }
  const hasOption = (select, value) => Array.from(select.options).some((o) => o.value === value);
  function restoreForm() {
    const store = storage();
    let form = null;
    try { form = JSON.parse((store && store.getItem(storeKey)) || "null"); } catch (e) { form = null; }
    if (!form || typeof form !== "object") return;
    if (typeof form.text === "string") text.value = form.text;
    const radio = form.voice && document.getElementById(`v-${form.voice}`);
    if (radio && radio.name === "voice") { radio.checked = true; showVoice(radio); }
    const value = Number(form.speed);
    if (value >= Number(speed.min) && value <= Number(speed.max)) speed.value = String(value);
    if (form.format && hasOption(format, form.format)) format.value = form.format;
    if (dictionary && typeof form.dictionary === "string" && hasOption(dictionary, form.dictionary)) dictionary.value = form.dictionary;
    if (ssml) ssml.checked = form.ssml === true;
    state.restored = true;
  }
  function showVoice(input) {
    const label = voiceList.querySelector(`label[for="${input.id}"]`);
    if (label) $("voice-chosen").textContent = label.textContent.replace(/\s+/g, " ").trim().replace(/ (\S+ · \S+)$/, " ($1)");
  }

  // --- keyboard -------------------------------------------------------------

  function typing(target) {
    return target.closest && target.closest("input, textarea, select, button, a, summary, [contenteditable]") !== null;
  }

  // --- wiring ---------------------------------------------------------------

  text.addEventListener("input", updateCount);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (!generateButton.disabled) generate();
    } else if (event.key === "Escape" && state.status === "generating") {
      event.preventDefault();
      cancel();
    } else if (event.key === " " && !event.ctrlKey && !event.metaKey && !event.altKey
               && (event.target === waveform || !typing(event.target)) && !playButton.disabled) {
      event.preventDefault(); // not a page scroll
      togglePlay();
    }
  });
  const showSpeed = () => { speedValue.textContent = `${Number(speed.value).toFixed(2)}×`; };
  speed.addEventListener("input", showSpeed);
  root.addEventListener("input", saveSoon);
  root.addEventListener("change", saveSoon);
  window.addEventListener("pagehide", saveForm); // a reload before the pause still keeps the last keystrokes
  playButton.addEventListener("click", togglePlay);
  waveform.addEventListener("click", (event) => {
    const box = waveform.getBoundingClientRect();
    const duration = Number.isFinite(resultAudio.duration) ? resultAudio.duration : state.duration;
    seek(((event.clientX - box.left) / box.width) * duration);
  });
  waveform.addEventListener("keydown", (event) => {
    const duration = Number.isFinite(resultAudio.duration) ? resultAudio.duration : state.duration;
    const to = { ArrowLeft: -5, ArrowDown: -5, ArrowRight: 5, ArrowUp: 5 }[event.key];
    if (to !== undefined) seek(currentPosition() + to);
    else if (event.key === "Home") seek(0);
    else if (event.key === "End") seek(duration);
    else return;
    event.preventDefault();
  });
  for (const name of ["play", "pause", "ended", "seeked", "loadedmetadata"]) resultAudio.addEventListener(name, showPosition);
  resultAudio.addEventListener("play", startTicking);
  window.addEventListener("resize", showPosition);
  generateButton.addEventListener("click", generate);
  $("regenerate").addEventListener("click", generate);
  cancelButton.addEventListener("click", cancel);
  $("replay").addEventListener("click", () => { stopPlayback(); player.mode = "file"; resultAudio.currentTime = 0; resultAudio.play(); });
  voiceSearch.addEventListener("input", filterVoices);
  for (const select of filters) select.addEventListener("change", filterVoices);
  voiceList.addEventListener("change", (event) => showVoice(event.target));
  voiceList.addEventListener("click", (event) => {
    const button = event.target.closest("button.play");
    if (button) playPreview(button);
  });
  restoreForm();
  showSpeed();
  updateCount();
  showPosition();
})();
