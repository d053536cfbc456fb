// Images in the chat: the composer's image button and the "/image <prompt>" command, the job's
// progress as it streams over the conversation's socket, the pictures in the thread, opened full
// size in a dialog and downloaded. Talks to chat.js only through window.chatlab.
(function () {
  "use strict";
  const chat = window.chatlab;
  if (!chat) return;
  const $ = (id) => document.getElementById(id);
  const gettext = window.gettext || ((text) => text);  // from /jsi18n/, when loaded
  const T = {
    working: gettext("Making the image…"),
    queued: gettext("Waiting for a free worker…"),
    failed: gettext("No image:"),
    download: gettext("Download"),
    close: gettext("Close"),
    open: gettext("Open full size"),
    empty: gettext("Describe the image after /image."),
  };
  const prompt = $("prompt"), button = $("image-button");
  const jobs = new Map();      // job id -> view
  const pending = new Map();   // client_id -> placeholder view, until the server answers
  const RANK = { queued: 0, running: 1, done: 2, failed: 2 };
  const COMMAND = /^\/image(?:\s+|$)/i;

  function newId() {
    return window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random());
  }

  // Views ---------------------------------------------------------------------------------
  function makeJobView(job, before) {
    const el = document.createElement("article");
    el.className = "message assistant image-job";
    el.innerHTML = '<p class="image-prompt"></p><div class="image-progress" role="progressbar" ' +
      'aria-valuemin="0" aria-valuemax="100"><span></span></div><p class="image-status"></p>' +
      '<div class="image-grid"></div>';
    // The composer's image icon (an SVG: emoji fonts are missing on many desktops), if shown.
    const icon = $("image-button") && $("image-button").querySelector("svg");
    const prompt = el.querySelector(".image-prompt");
    if (icon) prompt.append(icon.cloneNode(true), " ");
    prompt.append(job.prompt);
    if (before) chat.list.insertBefore(el, before); else chat.list.appendChild(el);
    $("empty-state").hidden = true;
    return { el, job };
  }

  function renderJob(view) {
    const job = view.job, el = view.el;
    el.dataset.jobId = job.id || "";
    el.dataset.status = job.status;
    const active = job.status === "queued" || job.status === "running";
    el.setAttribute("aria-busy", String(active));
    const bar = el.querySelector(".image-progress");
    bar.hidden = !active;
    bar.setAttribute("aria-valuenow", String(job.progress || 0));
    bar.firstElementChild.style.width = `${Math.max(job.progress || 0, 5)}%`;
    const status = el.querySelector(".image-status");
    status.className = "image-status" + (job.status === "failed" ? " error" : " muted");
    status.textContent = job.status === "failed" ? `${T.failed} ${job.error}`
      : job.status === "queued" ? T.queued : job.status === "running" ? T.working
      : (job.revised_prompt || "");
    const grid = el.querySelector(".image-grid");
    if (job.status === "done" && !grid.childElementCount) {
      for (const image of job.images) grid.appendChild(imageTile(image, job.prompt));
    }
  }

  function imageTile(image, alt) {
    const figure = document.createElement("figure");
    figure.className = "image-tile";
    const open = document.createElement("a");
    open.href = image.url;
    open.className = "image-open";
    open.title = T.open;
    const img = document.createElement("img");
    img.src = image.thumbnail_url;
    img.alt = alt;
    img.width = Math.min(image.width, 384);
    img.height = Math.round(img.width * image.height / image.width);
    img.addEventListener("load", chat.stickToBottom);
    open.appendChild(img);
    open.addEventListener("click", (e) => { e.preventDefault(); showFull(image, alt); });
    const download = document.createElement("a");
    download.href = image.download_url;
    download.className = "image-download";
    download.setAttribute("download", "");
    download.textContent = T.download;
    const caption = document.createElement("figcaption");
    caption.appendChild(download);
    figure.append(open, caption);
    return figure;
  }

  // Full size in a dialog: Escape or the button closes it; the link downloads.
  let dialog = null;
  function showFull(image, alt) {
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.className = "image-dialog";
      dialog.innerHTML = '<img alt=""><div class="image-dialog-bar"><a class="button image-download" download></a>' +
        '<button type="button" class="button image-close"></button></div>';
      dialog.querySelector(".image-close").textContent = T.close;
      dialog.querySelector(".image-close").addEventListener("click", () => dialog.close());
      dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });
      document.body.appendChild(dialog);
    }
    const img = dialog.querySelector("img");
    img.src = image.url;
    img.alt = alt;
    const link = dialog.querySelector(".image-download");
    link.href = image.download_url;
    link.textContent = T.download;
    dialog.showModal();
  }

  // State from the server -----------------------------------------------------------------
  function applyJob(job, ref) {
    let view = jobs.get(job.id);
    if (!view && ref && pending.has(ref)) {
      view = pending.get(ref);
      pending.delete(ref);
    }
    if (!view) view = makeJobView(job);
    // Frames may come from the asking socket and the group in either order: never go back.
    const old = view.job;
    if (old && old.id === job.id && (RANK[old.status] > RANK[job.status] ||
        (old.status === job.status && (old.progress || 0) > (job.progress || 0)))) return;
    view.job = job;
    jobs.set(job.id, view);
    renderJob(view);
    chat.stickToBottom();
    if (job.status === "queued" || job.status === "running") watch(job.id);
  }

  chat.handlers.image = (f) => applyJob(f.job, f.ref);
  const shownError = chat.handlers.error;
  chat.handlers.error = (f) => {
    if (f.ref && pending.has(f.ref)) { pending.get(f.ref).el.remove(); pending.delete(f.ref); }
    shownError(f);
  };

  // A job the page loaded unfinished, or whose frames a dropped socket missed: ask now and then.
  const watching = new Set();
  function watch(id) {
    if (watching.has(id)) return;
    watching.add(id);
    const tick = () => {
      const view = jobs.get(id);
      if (!view || view.job.status === "done" || view.job.status === "failed") { watching.delete(id); return; }
      fetch(`/images/jobs/${id}/`, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null))
        .then((job) => { if (job) applyJob(job); })
        .catch(() => {})
        .finally(() => setTimeout(tick, 3000));
    };
    setTimeout(tick, 3000);
  }

  // Asking ----------------------------------------------------------------------------------
  function requestImage(text) {
    const box = $("composer-error");
    if (!text) { box.textContent = T.empty; box.hidden = false; return; }
    box.hidden = true;
    const clientId = newId();
    const frame = { type: "image", prompt: text, client_id: clientId };
    const picker = $("bot-select");
    if (!chat.state.conversation && picker) frame.bot = picker.value;
    const view = makeJobView({ prompt: text });
    view.job = { id: null, status: "queued", progress: 0, prompt: text, images: [] };
    renderJob(view);
    pending.set(clientId, view);
    chat.send(frame);
    prompt.value = "";
    prompt.dispatchEvent(new Event("input"));
    chat.stickToBottom();
  }

  function commandText() {
    const value = prompt.value.trim();
    return COMMAND.test(value) ? value.replace(COMMAND, "").trim() : null;
  }

  // Before chat.js sees them: Enter or Send with "/image ..." asks for an image instead.
  document.addEventListener("keydown", (e) => {
    if (e.target !== prompt || e.key !== "Enter" || e.shiftKey || e.isComposing) return;
    const text = commandText();
    if (text === null) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    requestImage(text);
  }, true);
  document.addEventListener("submit", (e) => {
    if (e.target !== $("composer")) return;
    const text = commandText();
    if (text === null) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    requestImage(text);
  }, true);
  if (button) {
    button.addEventListener("click", () => {
      const text = commandText();
      const value = text !== null ? text : prompt.value.trim();
      if (value) { requestImage(value); return; }
      prompt.value = "/image ";
      prompt.focus();
    });
  }

  // The conversation's earlier jobs, each after the last message that came before it.
  const stored = JSON.parse(($("chat-images") || { textContent: "[]" }).textContent || "[]");
  const messages = chat.state.messages || [];
  for (const job of stored) {
    const later = messages.find((m) => m.created_at && m.created_at > job.created_at);
    const anchor = later && chat.byId.get(later.id);
    const view = makeJobView(job, anchor ? anchor.el : null);
    view.job = job;
    jobs.set(job.id, view);
    renderJob(view);
    if (job.status === "queued" || job.status === "running") watch(job.id);
  }
  if (stored.length) chat.list.scrollTop = chat.list.scrollHeight;
})();
