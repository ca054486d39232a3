/*
 * The Jobs page: progress bars that move as the workers do.
 *
 * The studio's websocket (/ws/tts/) forwards every progress event of the
 * organization's jobs as {"type": "job", "job": {id, status, chunks_done,
 * chunks_total, eta_seconds, ...}} (synthesis.jobs.job_payload). A known job's
 * row is updated in place; a job the page does not show yet, or one whose
 * status changed (its links and buttons change with it), makes the page fetch
 * the list again (the server renders it: one template for both). Without a
 * socket (refused, dropped, no WebSocket at all) the list is fetched every
 * 10 s instead, and the socket is tried again now and then.
 * The "… is queued" notice a new job leaves at the top of the page (tagged
 * job-notice-<id> by the view) follows its job: it says when the job is being
 * read and how it ended, rather than "queued" under a finished job. A row's
 * "no worker is running" alert goes as soon as a worker reports on the job.
 * window.voicehubJobs exposes the connection's state (tests read it).
 */
"use strict";
(function () {
  const list = document.getElementById("jobs-list");
  if (!list) return;
  const live = document.getElementById("jobs-live");
  const connection = document.getElementById("jobs-connection");
  const POLL_MS = 10000, RECONNECT_MS = 30000, NOT_AUTHENTICATED = 4401, RESTARTING = 1012;
  const FINAL = ["succeeded", "failed", "cancelled"];
  const LABELS = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled" };

  const state = (window.voicehubJobs = { socket: "connecting", events: 0, refreshes: 0, polling: false });

  // --- wording (the same as the server's template and views_studio_jobs.eta_text) ---

  function etaText(seconds) {
    if (seconds === null || seconds === undefined) return "";
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 10) return "almost done";
    if (seconds < 60) return `about ${seconds} s left`;
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `about ${minutes} min left`;
    return `about ${Math.floor(minutes / 60)} h ${minutes % 60} min left`;
  }

  function countText(job) {
    if (job.chunks_total) return `${job.chunks_done} of ${job.chunks_total} chunks`;
    if (job.status === "queued") return "Waiting for a worker";
    if (job.status === "running") return "Splitting into chunks…";
    return "";
  }

  function announce(message) {
    // Re-set so a screen reader repeats a message equal to the last one.
    live.textContent = "";
    window.setTimeout(() => { live.textContent = message; }, 50);
  }

  // --- the notice a new job left at the top of the page ----------------------------

  const NOTICE_PREFIX = "job-notice-";

  function noticeText(status, title, row) {
    if (status === "running") return `“${title}” is being read.`;
    if (status === "succeeded") return `“${title}” is ready: listen to it or download it below.`;
    if (status === "cancelled") return `“${title}” was cancelled.`;
    if (status === "failed") {
      const error = row.querySelector(".job-error");
      return `“${title}” failed` + (error ? `: ${error.textContent.trim()}` : ".");
    }
    return null; // still queued: the notice stays as it is
  }

  function settleNotices() {
    document.querySelectorAll(".messages .job-notice").forEach((notice) => {
      const tag = Array.from(notice.classList).find((name) => name.startsWith(NOTICE_PREFIX));
      const row = tag && document.getElementById("job-" + tag.slice(NOTICE_PREFIX.length));
      if (!row) return;
      const status = row.dataset.status;
      const text = noticeText(status, row.querySelector(".job-title").textContent.trim(), row);
      if (text === null || notice.dataset.status === status) return;
      notice.dataset.status = status;
      notice.textContent = text;
      notice.classList.remove("success", "warning", "error", "info");
      notice.classList.add(status === "failed" ? "error" : status === "cancelled" ? "warning" : "success");
    });
  }

  // --- one job's row -------------------------------------------------------------

  function update(job) {
    const row = document.getElementById(`job-${job.id}`);
    if (!row) {
      // New jobs arrive at the top of the first page; elsewhere the list is older jobs.
      if (list.dataset.firstPage === "true") refresh();
      return;
    }
    const progress = row.querySelector("[data-role=progress]");
    const title = row.querySelector(".job-title").textContent.trim();
    if (job.chunks_total) {
      const before = Number(progress.getAttribute("value")) / Number(progress.max || 1);
      progress.max = job.chunks_total;
      progress.value = job.chunks_done;
      const now = job.chunks_done / job.chunks_total;
      // A quarter at a time: often enough to follow, rare enough not to chatter.
      if (Math.floor(now * 4) > Math.floor(before * 4) && now < 1) announce(`${title}: ${Math.round(now * 100)}% read.`);
    }
    // Someone reported on the job (a worker, or a cancel): "no worker is running" is no longer the news.
    row.querySelector("[data-role=notice]")?.remove();
    row.querySelector("[data-role=count]").textContent = countText(job);
    row.querySelector("[data-role=eta]").textContent = job.status === "running" ? etaText(job.eta_seconds) : "";
    if (row.dataset.status !== job.status) {
      row.dataset.status = job.status;
      row.querySelector("[data-role=status]").textContent = LABELS[job.status] || job.status;
      announce(`${title}: ${(LABELS[job.status] || job.status).toLowerCase()}.`);
      settleNotices();
      if (FINAL.includes(job.status)) refresh(); // results to download, no more Cancel
    }
  }

  // --- the whole list, rendered by the server -----------------------------------------

  let fetching = false, again = false;

  async function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      const response = await fetch(location.pathname + location.search, {
        headers: { "HX-Request": "true", "HX-Target": list.id },
        credentials: "same-origin",
      });
      // Signed out meanwhile: the answer is the login page, not the list.
      if (!response.ok || response.redirected) { stopPolling(); return; }
      const html = await response.text();
      // Keep an open "Cancel…" or chapter list open across the swap.
      const open = Array.from(list.querySelectorAll("[id] details[open]")).map((d) => d.closest("[id]").id + "|" + d.className);
      list.innerHTML = html;
      open.forEach((key) => {
        const [id, className] = key.split("|");
        const details = document.getElementById(id)?.querySelector(`details.${className.split(" ").join(".")}`);
        if (details) details.open = true;
      });
      state.refreshes += 1;
      settleNotices(); // polling sees a job end only through the list
    } catch (error) {
      // Offline for a moment: the next poll or event tries again.
    } finally {
      fetching = false;
      if (again) { again = false; refresh(); }
    }
  }

  // --- the socket, and polling when there is none ---------------------------------------

  let pollTimer = null, reconnectTimer = null;

  function startPolling(reason) {
    state.polling = true;
    if (connection) { connection.hidden = false; connection.textContent = reason + " Progress is checked every 10 seconds."; }
    if (!pollTimer) pollTimer = window.setInterval(refresh, POLL_MS);
  }

  function stopPolling() {
    state.polling = false;
    if (connection) connection.hidden = true;
    if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  function connect() {
    reconnectTimer = null;
    if (!("WebSocket" in window)) { state.socket = "unavailable"; startPolling("Live updates are not supported by this browser."); return; }
    state.socket = "connecting";
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let ws;
    try {
      ws = new WebSocket(scheme + location.host + list.dataset.wsPath);
    } catch (error) {
      state.socket = "closed";
      startPolling("Live updates are unavailable.");
      return;
    }
    ws.onopen = () => {
      state.socket = "open";
      if (state.polling) { stopPolling(); refresh(); } // catch up on what happened while we polled
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      let message;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      if (message.type === "job" && message.job && message.job.id) {
        state.events += 1;
        update(message.job);
      }
    };
    ws.onclose = (event) => {
      state.socket = "closed";
      startPolling("Live updates are unavailable.");
      // Refused (signed out, unverified): the socket will not do better later.
      // The server is restarting (a rolling deploy): another process takes the socket in a moment.
      const delay = event.code === RESTARTING ? 1000 + Math.random() * 2000 : RECONNECT_MS;
      if (event.code !== NOT_AUTHENTICATED && !reconnectTimer) reconnectTimer = window.setTimeout(connect, delay);
    };
  }

  settleNotices(); // a short job may be done by the time the page that announced it loads
  connect();
})();
