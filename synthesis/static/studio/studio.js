/*
 * The studio: text in, speech out while it is still being made.
 *
 * Audio arrives over the /ws/tts/ websocket as raw 16-bit little-endian mono
 * PCM frames and is played through the Web Audio API, each frame scheduled
 * right after the previous one, so playback starts with the first sentence.
 * When synthesis is done the stored file (history) takes over for replay and
 * download. window.voicehubStudio exposes the run's state (tests read it).
 */
"use strict";
(function () {
  const root = document.getElementById("studio");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const text = $("text"), count = $("count"), left = $("left"), note = $("count-note");
  const speed = $("speed"), speedValue = $("speed-value"), format = $("format"), dictionary = $("dictionary");
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
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    // Back to back; a small lead when playback has run dry, so the start is not clipped.
    const at = Math.max(nextTime, ctx.currentTime + 0.05);
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
    download.href = message.audio_url; // a download: the audio is served as an attachment
    resultMeta.textContent = `${(message.seconds || 0).toFixed(1)} s · ${String(message.format || "").toUpperCase()} · `
      + `${(message.character_cost || 0).toLocaleString()} characters · saved in History`;
    result.hidden = false;
    say("Done. Your audio is saved in History.");
  }

  async function generate() {
    const voice = voiceList.querySelector("input[name=voice]:checked");
    if (!voice) { fail("Choose a voice first."); return; }
    errorLine.hidden = true;
    result.hidden = true;
    stopPlayback();
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

  let preview = null;
  function playPreview(button) {
    if (preview) preview.pause();
    const name = button.getAttribute("aria-label").replace(/^Preview /, "");
    // A saved voice's preview is its organization's own (a studio URL); the catalog's are public.
    const catalog = root.dataset.previewUrl.replace("VOICE", encodeURIComponent(button.dataset.voice));
    const url = button.dataset.preview || catalog;
    preview = new Audio(url);
    say(`Playing a preview of ${name}…`);
    preview.play().catch(() => say(`The preview of ${name} could not be played.`));
  }

  // --- wiring ---------------------------------------------------------------

  text.addEventListener("input", updateCount);
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !generateButton.disabled) generate();
  });
  speed.addEventListener("input", () => { speedValue.textContent = `${Number(speed.value).toFixed(2)}×`; });
  generateButton.addEventListener("click", generate);
  $("regenerate").addEventListener("click", generate);
  cancelButton.addEventListener("click", cancel);
  $("replay").addEventListener("click", () => { stopPlayback(); resultAudio.currentTime = 0; resultAudio.play(); });
  voiceSearch.addEventListener("input", filterVoices);
  for (const select of filters) select.addEventListener("change", filterVoices);
  voiceList.addEventListener("change", (event) => {
    const label = voiceList.querySelector(`label[for="${event.target.id}"]`);
    if (label) $("voice-chosen").textContent = label.textContent.replace(/\s+/g, " ").trim().replace(/ (\S+ · \S+)$/, " ($1)");
  });
  voiceList.addEventListener("click", (event) => {
    const button = event.target.closest("button.play");
    if (button) playPreview(button);
  });
  updateCount();
})();
