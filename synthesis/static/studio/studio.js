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

  // --- the take: streamed playback, waveform, position, seeking --------------

  // Every frame of the take is kept as an AudioBuffer: playing, pausing and seeking schedule
  // them again from an offset. (The stored file is served without byte ranges, so an <audio>
  // element could not seek in it; these are the very samples it holds.)
  let context = null, sampleRate = 24000, carry = null;
  let take = [], takeSeconds = 0; // [{buffer, at}], at = its start in the take
  let sources = [], nextTime = 0, anchor = null, paused = true, pausedAt = 0;
  const PEAK_SECONDS = 0.02; // one waveform column per 20 ms: its loudest sample
  let peaks = [], peakCarry = 0, peakFill = 0;

  function audioContext() {
    // Created on the Generate click: browsers only let a user gesture start audio.
    if (!context) context = new (window.AudioContext || window.webkitAudioContext)();
    if (context.state === "suspended") context.resume();
    return context;
  }

  function addPeaks(channel) {
    const per = Math.round(sampleRate * PEAK_SECONDS);
    for (let i = 0; i < channel.length; i++) {
      const value = Math.abs(channel[i]);
      if (value > peakCarry) peakCarry = value;
      if (++peakFill === per) { peaks.push(peakCarry); peakCarry = 0; peakFill = 0; }
    }
  }

  function schedule(chunk, offset) {
    // `offset`: where in the take playback (re)starts; a chunk ending before it is skipped.
    const ctx = audioContext();
    const skip = Math.max(0, offset - chunk.at);
    if (skip >= chunk.buffer.duration) return;
    // Back to back; a small lead when playback has run dry, so the start is not clipped.
    let at = nextTime;
    if (at < ctx.currentTime + 0.05) {
      at = ctx.currentTime + 0.05;
      anchor = { ctxTime: at, takeTime: chunk.at + skip };
    }
    const source = ctx.createBufferSource();
    source.buffer = chunk.buffer;
    source.connect(ctx.destination);
    source.start(at, skip);
    nextTime = at + chunk.buffer.duration - skip;
    sources.push(source);
    source.onended = () => { sources = sources.filter((s) => s !== source); };
  }

  function silence() {
    for (const source of sources) {
      try { source.stop(); } catch (e) { /* already ended */ }
    }
    sources = [];
    nextTime = 0;
  }

  function playFrom(offset) {
    silence();
    paused = false;
    anchor = null;
    const from = offset >= takeSeconds - 0.01 ? 0 : Math.max(0, offset); // at the end: from the start
    for (const chunk of take) schedule(chunk, from);
    if (!anchor) anchor = { ctxTime: audioContext().currentTime, takeTime: from };
    startTicking();
  }

  function pause() {
    pausedAt = currentPosition();
    paused = true;
    silence();
    showPosition();
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
    const chunk = { buffer, at: takeSeconds };
    take.push(chunk);
    takeSeconds += buffer.duration;
    Object.assign(state, { duration: takeSeconds, peaks: peaks.length });
    if (!paused) schedule(chunk, 0);
    if (!ticking) showPosition(); // paused mid-take: the waveform still grows
  }

  function stopPlayback() {
    silence();
    paused = true;
    pausedAt = 0;
    anchor = null;
    carry = null;
  }

  function resetPlayer() {
    stopPlayback();
    take = []; takeSeconds = 0;
    peaks = []; peakCarry = 0; peakFill = 0;
    Object.assign(state, { position: 0, duration: 0, peaks: 0 });
    showPosition();
  }

  const clock = (seconds) => {
    const s = Math.max(0, Math.floor(seconds || 0));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };

  function currentPosition() {
    if (paused || !anchor || !context) return Math.min(pausedAt, takeSeconds);
    const end = anchor.takeTime + Math.max(0, nextTime - anchor.ctxTime); // what is scheduled
    return Math.min(end, takeSeconds, Math.max(anchor.takeTime, anchor.takeTime + context.currentTime - anchor.ctxTime));
  }

  function playing() {
    return !paused && (sources.length > 0 || state.status === "generating");
  }

  function showPosition() {
    state.position = currentPosition();
    position.textContent = `${clock(state.position)} / ${clock(takeSeconds)}`;
    waveform.setAttribute("aria-valuemax", String(Math.floor(takeSeconds)));
    waveform.setAttribute("aria-valuenow", String(Math.floor(state.position)));
    waveform.setAttribute("aria-valuetext", takeSeconds ? `${clock(state.position)} of ${clock(takeSeconds)}` : "No audio yet");
    waveform.setAttribute("aria-disabled", take.length ? "false" : "true");
    playButton.disabled = !take.length;
    const on = playing();
    playButton.textContent = on ? "❚❚" : "▶";
    playButton.setAttribute("aria-label", on ? "Pause" : "Play");
    draw();
  }

  const colours = getComputedStyle(document.documentElement);
  function draw() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(waveform.clientWidth * ratio)), height = Math.max(1, Math.round(waveform.clientHeight * ratio));
    if (waveform.width !== width || waveform.height !== height) { waveform.width = width; waveform.height = height; }
    const g = waveform.getContext("2d");
    g.clearRect(0, 0, width, height);
    if (!peaks.length) return;
    // The take fills the width (it grows denser as it arrives), in columns ~3 px apart.
    const played = (state.position / Math.max(takeSeconds, 0.001)) * width;
    const columns = Math.max(1, Math.min(Math.floor(width / (3 * ratio)), peaks.length));
    const step = peaks.length / columns, w = width / columns;
    const accent = colours.getPropertyValue("--accent").trim() || "#3b3bd4";
    const rest = colours.getPropertyValue("--muted").trim() || "#4a4a55";
    for (let c = 0; c < columns; c++) {
      let peak = 0;
      const last = Math.max(Math.floor((c + 1) * step), Math.floor(c * step) + 1);
      for (let i = Math.floor(c * step); i < Math.min(peaks.length, last); i++) peak = Math.max(peak, peaks[i]);
      const x = c * w, bar = Math.max(ratio, Math.min(1, peak * 1.5) * (height - 4 * ratio));
      const before = x + w / 2 <= played;
      g.globalAlpha = before ? 1 : 0.35;
      g.fillStyle = before ? accent : rest;
      g.fillRect(x, (height - bar) / 2, Math.max(ratio, w - ratio), bar);
    }
    g.globalAlpha = 1;
    g.fillStyle = accent;
    g.fillRect(Math.min(width - 2 * ratio, played), 0, 2 * ratio, height);
  }

  let ticking = false;
  function tick() {
    showPosition();
    if (playing()) requestAnimationFrame(tick);
    else ticking = false;
  }
  function startTicking() {
    if (!ticking) { ticking = true; requestAnimationFrame(tick); }
  }

  function seek(seconds) {
    if (!take.length) return;
    const to = Math.min(Math.max(0, seconds), takeSeconds);
    if (paused) { pausedAt = to; showPosition(); } else playFrom(to);
  }

  function togglePlay() {
    if (!take.length) return;
    if (playing()) pause();
    else playFrom(paused ? pausedAt : 0);
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
        paused = false; // the take plays as it arrives
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
    progressWrap.hidden = true; // the bar stays small; the result panel says what was made
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
    seek(((event.clientX - box.left) / box.width) * takeSeconds);
  });
  waveform.addEventListener("keydown", (event) => {
    const to = { ArrowLeft: -5, ArrowDown: -5, ArrowRight: 5, ArrowUp: 5 }[event.key];
    if (to !== undefined) seek(currentPosition() + to);
    else if (event.key === "Home") seek(0);
    else if (event.key === "End") seek(takeSeconds);
    else return;
    event.preventDefault();
  });
  window.addEventListener("resize", showPosition);
  generateButton.addEventListener("click", generate);
  $("regenerate").addEventListener("click", generate);
  cancelButton.addEventListener("click", cancel);
  $("replay").addEventListener("click", () => playFrom(0));
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
