// The chat page: renders the thread, sends over the socket, and applies streamed frames.
// Frames carry a per-socket stream key "k" and a sequence number "n"; deltas are [k, n, text],
// or [k, n, text, reasoning] from a model that streams what it thinks before answering.
(function () {
  "use strict";
  const state = JSON.parse(document.getElementById("chat-state").textContent);
  // gettext comes from the JavaScript catalog (/jsi18n/) the page loads first; without it the
  // English text stands.
  const gettext = window.gettext || ((text) => text);
  const interpolate = window.interpolate || ((fmt, args) => fmt.replace("%s", args[0]));
  const T = {
    newChat: gettext("New chat"),
    thinking: gettext("Thinking…"),
    failed: gettext("The reply failed."),
    stopped: gettext("Stopped."),
    retry: gettext("Retry"),
    regenerate: gettext("Regenerate"),
    reconnecting: gettext("Reconnecting…"),
    notFound: gettext("This conversation does not exist."),
    tooLong: gettext("This message is too long."),
    edit: gettext("Edit"),
    save: gettext("Save and regenerate"),
    cancel: gettext("Cancel"),
    previousVersions: gettext("Previous versions"),
    thoughts: gettext("Thoughts"),
    // %s: whole seconds the model spent reasoning before it answered.
    thoughtFor: gettext("Thought for %s s"),
    loadingEarlier: gettext("Loading earlier messages…"),
    earlierFailed: gettext("Earlier messages could not be loaded. Trying again…"),
    copy: gettext("Copy"),
  };
  const $ = (id) => document.getElementById(id);
  const list = $("messages"), prompt = $("prompt"), sendBtn = $("send"), stopBtn = $("stop");
  const byId = new Map();      // message id -> view
  const byKey = new Map();     // stream key -> view
  const early = new Map();     // stream key -> deltas that came before we knew the key
  const outbox = new Map();    // client_id -> frame not yet acknowledged
  const unsent = new Map();    // client_id -> view of a message the server has not stored yet
  let socket = null, retryDelay = 500, activeReply = null;

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // Views -------------------------------------------------------------------------------------
  function makeView(message, before) {
    const el = document.createElement("article");
    el.className = `message ${message.role}`;
    el.innerHTML = '<details class="reasoning" hidden><summary></summary>' +
      '<div class="reasoning-text"></div></details><div class="body"></div><div class="meta"></div>';
    const view = { id: message.id, role: message.role, el, content: message.content || "",
                   status: message.status, seq: null, error: message.error || "", frame: 0,
                   reasoning: message.reasoning || "", reasoningMs: message.reasoning_ms ?? null,
                   thinkingSince: null, folded: !!message.content,
                   versions: message.versions || [] };
    list.insertBefore(el, before || null);
    $("empty-state").hidden = true;
    if (message.id) byId.set(message.id, view);
    render(view);
    if (message.versions && message.versions.length) renderVersions(view, message.versions);
    return view;
  }

  // Earlier versions of a message (an edit, a regenerated reply), folded under it.
  function renderVersions(view, versions) {
    const box = document.createElement("details");
    box.className = "versions";
    const summary = document.createElement("summary");
    summary.textContent = `${T.previousVersions} (${versions.length})`;
    box.append(summary);
    for (const v of versions) {
      const item = document.createElement("div");
      item.className = "version";
      item.textContent = v.content || v.status;
      box.append(item);
      if (v.answer) {
        const answer = document.createElement("div");
        answer.className = "version answer";
        answer.innerHTML = window.renderMarkdown(v.answer);
        box.append(answer);
      }
    }
    view.el.append(box);
  }

  // The last user message can be edited when no reply is being written: the edit is sent as a
  // new version and answered again; the old message and reply stay as previous versions.
  function renderEditButtons() {
    for (const v of byId.values()) {
      if (v.role !== "user") continue;
      const meta = v.el.querySelector(".meta");
      meta.textContent = "";
      const lastUser = [...list.querySelectorAll("article.message.user")].pop() === v.el;
      if (!lastUser || activeReply || !v.id || v.editing) continue;
      const edit = document.createElement("button");
      edit.type = "button";
      edit.className = "link action edit";
      edit.textContent = T.edit;
      edit.addEventListener("click", () => startEdit(v));
      meta.append(edit);
    }
  }

  function startEdit(view) {
    view.editing = true;
    const body = view.el.querySelector(".body");
    const form = document.createElement("form");
    form.className = "edit-form";
    const area = document.createElement("textarea");
    area.value = view.content;
    area.rows = 3;
    area.maxLength = state.maxChars;
    const save = document.createElement("button");
    save.type = "submit"; save.className = "button primary"; save.textContent = T.save;
    const cancel = document.createElement("button");
    cancel.type = "button"; cancel.className = "button"; cancel.textContent = T.cancel;
    form.append(area, save, cancel);
    body.hidden = true;
    view.el.insertBefore(form, body);
    const close = () => { form.remove(); body.hidden = false; view.editing = false; renderEditButtons(); };
    cancel.addEventListener("click", close);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = area.value.trim();
      if (!text) return;
      send({ type: "edit", id: view.id, content: text });
      close();
    });
    renderEditButtons();
    area.focus();
  }

  // What the model thought: open while it thinks, folded once the answer starts (the person
  // may open it again); shown as plain text, never as markup.
  function renderReasoning(view) {
    const box = view.el.querySelector(".reasoning");
    box.hidden = !view.reasoning;
    if (!view.reasoning) return;
    const active = view.status === "pending" || view.status === "streaming";
    const thinking = active && !view.content;
    if (thinking && view.thinkingSince === null) view.thinkingSince = Date.now();
    if (!thinking && view.reasoningMs === null && view.thinkingSince !== null) {
      view.reasoningMs = Date.now() - view.thinkingSince;  // the server's figure comes at done
    }
    box.classList.toggle("live", thinking);
    if (thinking) box.open = true;
    else if (!view.folded) { view.folded = true; box.open = false; }
    box.querySelector("summary").textContent = thinking ? T.thinking
      : view.reasoningMs !== null
        ? interpolate(T.thoughtFor, [Math.max(1, Math.round(view.reasoningMs / 1000))])
        : T.thoughts;
    box.querySelector(".reasoning-text").textContent = view.reasoning;
  }

  function render(view) {
    renderReasoning(view);
    const body = view.el.querySelector(".body");
    if (view.role === "assistant") {
      body.innerHTML = window.renderMarkdown(view.content);
      markCursor(body);
    } else body.textContent = view.content;
    view.el.dataset.status = view.status;
    view.el.setAttribute("aria-busy", String(view.status === "pending" || view.status === "streaming"));
    renderMeta(view);
  }

  // The streaming cursor (CSS ::after on .cursor) follows the last words: on a quote or a list
  // it would sit on a line of its own, after the block, so it goes into their last block.
  const CURSOR_INTO = new Set(["BLOCKQUOTE", "UL", "OL", "LI", "DL", "DD", "DETAILS", "DIV",
                               "TABLE", "THEAD", "TBODY", "TR"]);
  function markCursor(body) {
    let el = body.lastElementChild;
    while (el && CURSOR_INTO.has(el.tagName) && el.lastElementChild && !trailingText(el)) {
      el = el.lastElementChild;
    }
    if (el) el.classList.add("cursor");
  }
  function trailingText(el) {
    const node = el.lastChild;
    return node.nodeType === Node.TEXT_NODE && node.textContent.trim() !== "";
  }

  function scheduleRender(view) {
    // Re-rendering markdown on every frame is wasted work: once per animation frame is enough.
    if (view.frame) return;
    view.frame = requestAnimationFrame(() => { view.frame = 0; render(view); stickToBottom(); });
  }

  function renderMeta(view) {
    const meta = view.el.querySelector(".meta");
    meta.textContent = "";
    if (view.role !== "assistant") return;
    const active = view.status === "pending" || view.status === "streaming";
    // Until the first words arrive (a model may take seconds), show that something is going on.
    if (active && !view.content && !view.reasoning) meta.append(span("typing", T.thinking));
    if (view.status === "failed") meta.append(span("error", view.error || T.failed));
    if (view.status === "cancelled") meta.append(span("muted", T.stopped));
    if (!active && view.content) {
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "link copy-message";
      copy.textContent = T.copy;
      copy.setAttribute("aria-live", "polite");
      copy.addEventListener("click", () => window.copyToClipboard(view.content, copy));
      meta.append(copy);
    }
    const isLast = list.lastElementChild === view.el;
    if (!active && isLast && view.id) {
      const again = document.createElement("button");
      again.type = "button";
      again.className = "link action";
      again.textContent = view.status === "failed" ? T.retry : T.regenerate;
      again.addEventListener("click", () => send({ type: "regenerate", id: view.id }));
      meta.append(again);
    }
  }

  function span(cls, text) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function nearBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 80; }
  let follow = true;
  list.addEventListener("scroll", () => { follow = nearBottom(); });
  function stickToBottom() { if (follow) list.scrollTop = list.scrollHeight; }

  function setActive(view) {
    activeReply = view && (view.status === "pending" || view.status === "streaming") ? view : null;
    const focused = document.activeElement;
    stopBtn.hidden = !activeReply;
    sendBtn.hidden = !!activeReply;
    for (const v of byId.values()) if (v.role === "assistant") renderMeta(v);
    renderEditButtons();
    // The button that had the focus may be gone (Send, Stop, Regenerate): keep keyboard users
    // in the composer instead of dropping them on <body>.
    if (focused && focused !== document.body && (!focused.isConnected || focused.hidden)) {
      prompt.focus();
    }
  }

  // Frames from the server ------------------------------------------------------------------
  function bind(key, view) {
    byKey.set(key, view);
    const waiting = early.get(key);
    if (waiting) { early.delete(key); waiting.forEach((f) => applyDelta(view, f)); }
  }

  function applyDelta(view, f) {
    if (view.seq === null) return;              // waiting for a snapshot
    if (f.n <= view.seq) return;                // already have it
    if (f.n !== view.seq + 1) { view.seq = null; send({ type: "sync" }); return; }
    view.seq = f.n;
    view.content += f.d;
    if (f.r) view.reasoning += f.r;
    if (view.status === "pending") view.status = "streaming";
    scheduleRender(view);
  }

  // The server titles a new conversation with the start of its first message, the same way.
  function titleFrom(text) {
    const line = text.split(/\s+/).filter(Boolean).join(" ");
    return line.length <= 60 ? line : line.slice(0, 59).trimEnd() + "…";
  }

  // The current conversation goes to the top of the sidebar, as the server orders it.
  function bumpConversation(id, title) {
    const nav = $("conversation-list");
    let link = nav.querySelector(`a[data-id="${id}"]`);
    if (!link) {
      link = document.createElement("a");
      link.href = `/c/${id}/`;
      link.dataset.id = id;
      link.textContent = title || T.newChat;
      link.title = link.textContent;
    }
    for (const other of nav.querySelectorAll("a[aria-current]")) other.removeAttribute("aria-current");
    link.setAttribute("aria-current", "page");
    const none = $("no-conversations");
    if (none) none.remove();
    if (nav.firstElementChild !== link) nav.prepend(link);
  }

  // A conversation started on this page gets the ⋯ menu its page has after a reload; the
  // template renders it hidden, its URLs naming a placeholder id.
  function showConversationMenu(id, title) {
    const menu = $("conversation-menu");
    if (!menu || !menu.hidden) return;
    const placeholder = menu.dataset.placeholder;
    for (const form of menu.querySelectorAll("form")) {
      form.action = form.getAttribute("action").replace(placeholder, id);
    }
    for (const link of menu.querySelectorAll("a[href]")) {
      link.href = link.getAttribute("href").replace(placeholder, id);
    }
    $("rename-title").value = title === T.newChat ? "" : title;
    menu.hidden = false;
  }

  const handlers = {
    conversation(f) {
      if (state.conversation === f.conversation.id) return;
      const title = f.conversation.title || T.newChat;
      state.conversation = f.conversation.id;
      history.replaceState(null, "", `/c/${f.conversation.id}/`);
      $("chat-title").textContent = title;
      document.title = `${title} · Chatlab`;
      bumpConversation(f.conversation.id, title);
      showConversationMenu(f.conversation.id, title);
      // The bot is fixed once the conversation exists: show its name instead of the picker.
      const picker = $("bot-select");
      if (picker) {
        const name = document.createElement("span");
        name.className = "bot-name";
        name.textContent = picker.selectedOptions[0] ? picker.selectedOptions[0].textContent : "";
        picker.closest(".bot-picker").replaceWith(name);
      }
    },
    sent(f) {
      // The socket that sent gets a short frame (ref = its client_id, reply = the reply's id);
      // other tabs get the stored messages in full (message, reply objects).
      const ref = f.ref || f.client_id;
      if (ref) outbox.delete(ref);
      const mine = ref && unsent.get(ref);
      if (typeof f.conversation === "string") {
        handlers.conversation({ conversation: { id: f.conversation, title: titleFrom(mine ? mine.content : "") } });
      }
      // A regenerated reply (no new message) keeps the one it replaces as a previous version.
      const replaced = f.replaces && byId.get(f.replaces);
      if (replaced) forget(replaced);
      if (mine) {
        // Keep the element the person already sees; it is stored now.
        unsent.delete(ref);
        delete mine.el.dataset.clientId;
        const storedId = f.message ? f.message.id : f.message_id;
        if (storedId) { mine.id = storedId; byId.set(mine.id, mine); }
      } else if (f.message && !byId.has(f.message.id)) {
        makeView(f.message);
      }
      if ((mine || f.message) && state.conversation) {
        bumpConversation(state.conversation, $("chat-title").textContent);
      }
      const replyId = typeof f.reply === "string" ? f.reply : f.reply.id;
      let reply = byId.get(replyId);
      if (!reply) {
        reply = makeView(typeof f.reply === "string"
          ? { id: replyId, role: "assistant", status: "streaming", content: "" } : f.reply);
        // Another tab's reply: wait for the snapshot this socket asked for, then apply deltas.
        reply.seq = f.follow ? null : 0;
        if (replaced && !f.message) {
          reply.versions = [...replaced.versions,
                            { id: replaced.id, content: replaced.content, status: replaced.status }];
          renderVersions(reply, reply.versions);
        }
      }
      bind(f.k, reply);
      setActive(reply);
      follow = true; stickToBottom();
    },
    regenerated(f) { handlers.sent(f); },
    edited(f) {
      // The edited message and its reply(ies) become previous versions: out of the thread.
      const old = (f.superseded || []).map((id) => byId.get(id)).filter(Boolean);
      for (const view of old) forget(view);
      handlers.sent(f);
      // The new message lists the one it replaces, with that one's answer, as a reload would.
      const before = old.find((v) => v.role === "user"), mine = f.message && byId.get(f.message.id);
      if (before && mine && !mine.versions.length) {
        const answer = old.filter((v) => v.role === "assistant").pop();
        mine.versions = [...before.versions, { id: before.id, content: before.content,
                                               status: before.status,
                                               answer: answer ? answer.content : undefined }];
        renderVersions(mine, mine.versions);
      }
    },
    snapshot(f) {
      let view = byId.get(f.id) || makeView({ id: f.id, role: "assistant", status: f.status, content: "" });
      view.content = f.content; view.seq = f.n; view.status = f.status;
      view.reasoning = f.reasoning || view.reasoning;
      bind(f.k, view);
      setActive(view);
      render(view); stickToBottom();
    },
    done(f) {
      const view = byKey.get(f.k) || byId.get(f.id);
      if (!view) return;
      bind(f.k, view);
      // A reply that completed says nothing more; any other ending says how and why.
      Object.assign(view, { status: f.status || "complete", error: f.error || "" });
      if (f.reasoning_ms !== undefined) view.reasoningMs = f.reasoning_ms;
      if (view.seq !== f.n) { send({ type: "sync" }); }
      render(view);
      setActive(null);
      stickToBottom();
    },
    message(f) {
      const view = byId.get(f.message.id) || makeView(f.message);
      Object.assign(view, { content: f.message.content, status: f.message.status,
                            error: f.message.error, seq: null,
                            reasoning: f.message.reasoning || "",
                            reasoningMs: f.message.reasoning_ms ?? null });
      render(view);
      setActive(view);
    },
    error(f) {
      const box = $("composer-error");
      box.textContent = f.message;
      box.hidden = false;
      if (f.ref) {
        outbox.delete(f.ref);
        const mine = unsent.get(f.ref);
        if (mine) {
          unsent.delete(f.ref);
          mine.el.remove();
          prompt.value = prompt.value || mine.content;
          autosize();
        }
        if (!list.querySelector("article")) $("empty-state").hidden = false;
      }
    },
  };

  // Earlier messages ----------------------------------------------------------------------
  // The page holds the newest messages only; older ones come a page at a time from
  // /c/<id>/earlier/ when the person scrolls near the top, above a sentinel watched there.
  let earlierBox = null, earlierObserver = null, loadingEarlier = false;

  function watchEarlier() {
    earlierBox = document.createElement("p");
    earlierBox.className = "earlier muted";
    earlierBox.id = "earlier";
    earlierBox.setAttribute("role", "status");
    list.insertBefore(earlierBox, list.firstChild);
    earlierObserver = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadEarlier();
    }, { root: list, rootMargin: "400px 0px 0px 0px" });
    earlierObserver.observe(earlierBox);
  }

  async function loadEarlier() {
    const first = list.querySelector("article.message");
    const oldest = first && [...byId.values()].find((v) => v.el === first);
    if (loadingEarlier || !oldest || !oldest.id) return;
    loadingEarlier = true;
    earlierBox.textContent = T.loadingEarlier;
    let page = null;
    try {
      const url = `/c/${state.conversation}/earlier/?before=${encodeURIComponent(oldest.id)}`;
      const response = await fetch(url, { credentials: "same-origin",
                                          headers: { Accept: "application/json" } });
      if (response.ok) page = await response.json();
    } catch (e) { page = null; }
    loadingEarlier = false;
    if (!page) {
      earlierBox.textContent = T.earlierFailed;
      setTimeout(() => {
        earlierObserver.unobserve(earlierBox);
        earlierObserver.observe(earlierBox);
      }, 3000);
      return;
    }
    // Keep what the person is reading where it is while the older messages go in above it.
    const fromBottom = list.scrollHeight - list.scrollTop;
    for (const m of page.messages) {
      if (!byId.has(m.id)) makeView(m, first);
    }
    list.scrollTop = list.scrollHeight - fromBottom;
    earlierBox.textContent = "";
    if (!page.hasEarlier) {
      earlierObserver.disconnect();
      earlierBox.remove();
      return;
    }
    // Observing again reports at once whether the sentinel is still in reach (a short page).
    earlierObserver.unobserve(earlierBox);
    earlierObserver.observe(earlierBox);
  }

  function forget(view) {
    view.el.remove();
    byId.delete(view.id);
    for (const [key, v] of byKey) if (v === view) byKey.delete(key);
  }

  function onFrame(event) {
    let f;
    try { f = JSON.parse(event.data); } catch (e) { return; }
    if (Array.isArray(f)) {
      // A delta: [stream key, sequence number, text, reasoning (only if any)].
      f = { k: f[0], n: f[1], d: f[2], r: f[3] || "" };
      const view = byKey.get(f.k);
      if (view) applyDelta(view, f);
      else { if (!early.has(f.k)) early.set(f.k, []); early.get(f.k).push(f); }
      return;
    }
    const handler = handlers[f.type];
    if (handler) handler(f);
  }

  // The socket ----------------------------------------------------------------------------
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const path = state.conversation ? `/ws/chat/${state.conversation}/` : "/ws/chat/";
    socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.addEventListener("open", () => {
      retryDelay = 500;
      $("connection").textContent = "";
      document.body.dataset.socket = "open";
      for (const frame of outbox.values()) socket.send(JSON.stringify(frame));
    });
    socket.addEventListener("message", onFrame);
    socket.addEventListener("close", (e) => {
      document.body.dataset.socket = "closed";
      byKey.clear(); early.clear();
      for (const v of byId.values()) if (v.status === "streaming" || v.status === "pending") v.seq = null;
      if (e.code === 4401 || e.code === 4403) { location.href = "/accounts/login/"; return; }
      if (e.code === 4404) { $("connection").textContent = T.notFound; return; }
      $("connection").textContent = T.reconnecting;
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    });
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  // The composer ------------------------------------------------------------------------------
  function submit() {
    const text = prompt.value.trim();
    if (!text || activeReply) return;
    if (text.length > state.maxChars) { handlers.error({ message: T.tooLong }); return; }
    $("composer-error").hidden = true;
    const clientId = uuid4();
    const frame = { type: "send", content: text, client_id: clientId };
    const picker = $("bot-select");
    if (!state.conversation && picker) frame.bot = picker.value;
    const view = makeView({ role: "user", content: text, status: "complete" });
    view.el.dataset.clientId = clientId;
    unsent.set(clientId, view);
    outbox.set(clientId, frame);
    send(frame);
    prompt.value = "";
    autosize();
    follow = true; stickToBottom();
  }

  function autosize() {
    // scrollHeight leaves out the borders, and the box is border-box sized: add them back.
    prompt.style.height = "auto";
    const borders = prompt.offsetHeight - prompt.clientHeight;
    prompt.style.height = Math.min(prompt.scrollHeight + borders, 240) + "px";
  }

  // A new chat's empty page says what the chosen bot is.
  const picker = $("bot-select");
  function describeBot() {
    const bot = state.bots.find((b) => b.slug === (picker ? picker.value : state.bot));
    $("bot-description").textContent = bot ? bot.description : "";
    // The admin's welcome text for this bot, in the page's language (or the default one).
    $("bot-welcome").textContent = bot && bot.welcome ? bot.welcome : "";
  }
  if (picker) picker.addEventListener("change", () => { describeBot(); prompt.focus(); });
  describeBot();

  $("composer").addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  prompt.addEventListener("input", autosize);
  stopBtn.addEventListener("click", () => { if (activeReply) send({ type: "stop", id: activeReply.id }); });

  // The sidebar is a drawer on phones: the menu button opens it; Escape, the backdrop or the
  // button close it.
  const layout = $("layout"), menu = $("menu-toggle");
  function drawerOpen() { return layout.classList.contains("sidebar-open"); }
  function setDrawer(open) {
    layout.classList.toggle("sidebar-open", open);
    menu.setAttribute("aria-expanded", String(open));
    if (open) { const first = $("sidebar").querySelector("a, button"); if (first) first.focus(); }
  }
  menu.addEventListener("click", () => setDrawer(!drawerOpen()));
  $("sidebar-backdrop").addEventListener("click", () => setDrawer(false));
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || e.isComposing) return;
    const actions = $("conversation-menu");
    if (actions && actions.open) {
      actions.open = false;
      actions.querySelector("summary").focus();
      return;
    }
    if (drawerOpen()) { setDrawer(false); menu.focus(); return; }
    if (activeReply) { e.preventDefault(); send({ type: "stop", id: activeReply.id }); }
  });

  for (const m of state.messages) {
    const view = makeView(m);
    if (m.status === "pending" || m.status === "streaming") view.seq = null;
  }
  const last = [...byId.values()].pop();
  setActive(last && last.role === "assistant" ? last : null);
  list.scrollTop = list.scrollHeight;
  if (state.hasEarlier) watchEarlier();
  autosize();
  // For add-ons in their own files (images.js): the socket, the frame handlers and the views.
  window.chatlab = { state, send, handlers, byId, list, makeView, stickToBottom, bumpConversation };
  connect();
  // On touch screens focusing would pop up the keyboard over the conversation.
  if (!window.matchMedia("(pointer: coarse)").matches) prompt.focus();
})();
