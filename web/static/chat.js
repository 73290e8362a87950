/* Aiguillage — page de discussion.
 *
 * Plain ES2017, no build step, no framework. The page is served with
 * `script-src 'self'; style-src 'self'`: this file never writes HTML (no innerHTML),
 * never sets a style attribute and never uses inline handlers. Every text from the
 * server or the user is written with textContent.
 *
 * It holds no French text: the page's texts come from the server (bot/tree.yml `chat`,
 * in the page's JSON block #chat-config, the same as GET /chat/config).
 */
(function () {
  'use strict';

  var SENDER_KEY = 'aiguillage-sender';
  var SENDER_RE = /^[A-Za-z0-9_-]{1,64}$/;
  var TEL_RE = /^tel:\+?[0-9]{3,15}$/;
  var ALLOWED_PROTOCOLS = ['https:', 'http:', 'mailto:'];

  /** The page's JSON config (texts, phone, welcome); {} when missing or unreadable. */
  function pageConfig() {
    var node = document.getElementById('chat-config');
    if (!node) {
      return {};
    }
    try {
      var cfg = JSON.parse(node.textContent);
      return cfg && typeof cfg === 'object' ? cfg : {};
    } catch (e) {
      return {};
    }
  }

  var CONFIG = pageConfig();
  var T = (CONFIG.texts && CONFIG.texts.script) || {};
  var PENDING = CONFIG.texts && CONFIG.texts.page && typeof CONFIG.texts.page.pending === 'string' ? CONFIG.texts.page.pending : '';
  var UNAVAILABLE = typeof CONFIG.unavailable === 'string' ? CONFIG.unavailable : '';

  /** A text of the page (tree.yml chat.script), with its {placeholders} filled. */
  function t(key, values) {
    var text = typeof T[key] === 'string' ? T[key] : '';
    Object.keys(values || {}).forEach(function (name) {
      text = text.split('{' + name + '}').join(String(values[name]));
    });
    return text;
  }

  // The webhook sits beside the page: /chat/webhook. Resolve it from this script's own URL
  // (/chat/static/chat.js) so that it is right whether the page was opened as /chat/ or /chat.
  var scriptSrc = document.currentScript && document.currentScript.src;

  function webhookUrl() {
    if (scriptSrc) {
      return new URL('../webhook', scriptSrc).toString();
    }
    var base = new URL(window.location.href);
    base.search = '';
    base.hash = '';
    if (!base.pathname.endsWith('/')) {
      base.pathname += '/';
    }
    return new URL('webhook', base).toString();
  }

  // The booking channel's JSON API (/rdv/api/) and the rating endpoint (/chat/feedback), resolved
  // the same way from /chat/static/chat.js.
  function siblingUrl(relative, fallback) {
    if (scriptSrc) {
      return new URL(relative, scriptSrc).toString();
    }
    return new URL(fallback, window.location.href).toString();
  }

  function apiUrl(path) {
    return siblingUrl('../../rdv/api/' + path, '/rdv/api/' + path);
  }

  function feedbackUrl() {
    return siblingUrl('../feedback', '/chat/feedback');
  }

  function historyUrl(sender) {
    return siblingUrl('../history', '/chat/history') + '?sender=' + encodeURIComponent(sender);
  }

  /** GET or POST JSON; resolves to {status, body} (status 0 when the network failed). */
  async function callJson(method, url, data) {
    var options = { method: method, headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
    if (data !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(data);
    }
    var resp;
    try {
      resp = await window.fetch(url, options);
    } catch (e) {
      return { status: 0, body: null };
    }
    var body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    return { status: resp.status, body: body && typeof body === 'object' ? body : null };
  }

  // What the contact fields accept, as the server checks it (bot/pan.py): the server has the last word.
  var EMAIL_RE = /^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/;
  var MOBILE_RE = /^(?:\+33|0033|0)[67][0-9]{8}$/;

  function emailOk(value) {
    return value.length <= 254 && EMAIL_RE.test(value) && value.indexOf('..') === -1;
  }

  function mobileOk(value) {
    var compact = value.replace(/[\s.()-]/g, '').replace(/^\+33\(?0\)?/, '+33');
    return MOBILE_RE.test(compact);
  }

  // ---- sender id -------------------------------------------------------------------------
  //
  // Kept in localStorage, so that a reload, or "Retour à l'assistant" from a booking page opened in
  // another tab, finds the conversation again (GET /chat/history). The server gives nothing back
  // once Rasa's session has expired; "Nouvelle conversation" replaces the id at once.

  function randomId() {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    var alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    var out = 'web-';
    for (var i = 0; i < bytes.length; i++) {
      out += alphabet.charAt(bytes[i] & 63);
    }
    return out; // 4 + 18 = 22 characters, [A-Za-z0-9_-] only
  }

  var memorySender = null;

  /** The id kept by this tab, or null (a first visit). */
  function storedSender() {
    var id = null;
    try {
      id = window.localStorage.getItem(SENDER_KEY);
    } catch (e) {
      id = memorySender;
    }
    return id && SENDER_RE.test(id) ? id : null;
  }

  /** `id` becomes this tab's conversation id (kept in localStorage when it can be). */
  function keepSender(id) {
    memorySender = id;
    try {
      window.localStorage.setItem(SENDER_KEY, id);
    } catch (e) {
      // storage disabled: the in-memory id is used
    }
    return id;
  }

  /** "Nouvelle conversation": a fresh id, the server's conversation is left behind. */
  function newSender() {
    return keepSender(randomId());
  }

  function senderId() {
    var id = null;
    try {
      id = window.localStorage.getItem(SENDER_KEY);
    } catch (e) {
      id = memorySender; // storage disabled: keep the id for this page only
    }
    if (!id || !SENDER_RE.test(id)) {
      id = randomId();
      memorySender = id;
      try {
        window.localStorage.setItem(SENDER_KEY, id);
      } catch (e) {
        // storage disabled or full: the in-memory id is used
      }
    }
    return id;
  }

  // ---- confirmations kept for a reload --------------------------------------------------------
  //
  // A booking's confirmation, a message's acknowledgement and a cancellation come from /rdv/api/,
  // not from Rasa: GET /chat/history cannot draw them again. They are kept in the same localStorage
  // as the conversation id, with that id, and drawn again after the restored turns; « Nouvelle
  // conversation » forgets them with the id. What is kept is what was shown (no contact detail).

  var DONE_KEY = 'aiguillage-confirmations';
  var DONE_MAX = 20;
  var DONE_FIELDS = {
    booking: ['reference', 'title', 'lines', 'runs', 'email_note', 'reference_note', 'ics_url', 'ics_label'],
    message: ['reference', 'title', 'lines', 'runs', 'france_services_link', 'france_services_url'],
    cancelled: ['message', 'reference']
  };

  /** The confirmations kept for this conversation id, oldest first ([] when none or unreadable). */
  function keptConfirmations(sender) {
    var kept = null;
    try {
      kept = JSON.parse(window.localStorage.getItem(DONE_KEY) || 'null');
    } catch (e) {
      kept = null;
    }
    if (!kept || typeof kept !== 'object' || kept.sender !== sender || !Array.isArray(kept.items)) {
      return [];
    }
    return kept.items.filter(function (item) {
      return item && typeof item === 'object' && DONE_FIELDS.hasOwnProperty(item.kind) && item.data && typeof item.data === 'object';
    });
  }

  /** Keeps one confirmation (`kind`: booking, message or cancelled) of the current conversation. */
  function keepConfirmation(kind, data) {
    var sender = senderId();
    var shown = {};
    DONE_FIELDS[kind].forEach(function (name) {
      if (data[name] !== undefined) {
        shown[name] = data[name];
      }
    });
    var items = keptConfirmations(sender).concat([{ kind: kind, data: shown }]).slice(-DONE_MAX);
    try {
      window.localStorage.setItem(DONE_KEY, JSON.stringify({ sender: sender, items: items }));
    } catch (e) {
      // storage disabled or full: shown on this page only
    }
  }

  function forgetConfirmations() {
    try {
      window.localStorage.removeItem(DONE_KEY);
    } catch (e) {
      // storage disabled: nothing was kept
    }
  }

  // ---- DOM helpers -----------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  function srOnly(text) {
    return el('span', 'fr-sr-only', text);
  }

  function safeUrl(raw) {
    if (typeof raw !== 'string' || !raw) {
      return null;
    }
    var url;
    try {
      url = new URL(raw, window.location.href);
    } catch (e) {
      return null;
    }
    return ALLOWED_PROTOCOLS.indexOf(url.protocol) === -1 ? null : url;
  }

  // ---- the chat --------------------------------------------------------------------------

  function init() {
    var chat = document.getElementById('chat');
    var log = document.getElementById('chat-log');
    var form = document.getElementById('chat-form');
    var input = document.getElementById('chat-input');
    var send = document.getElementById('chat-send');
    var pending = document.getElementById('chat-pending');
    var restart = document.getElementById('chat-restart');
    var statusLine = document.getElementById('chat-status'); // said once to screen readers (restore)
    var newButton = document.getElementById('chat-new');
    if (!chat || !log || !form || !input || !send) {
      return;
    }
    // The page answered to its form posted before this script ran (bot/web/chat_page.py): the notice
    // that the assistant needs JavaScript no longer holds.
    var noScript = document.getElementById('chat-nojs');
    if (noScript) {
      noScript.remove();
    }
    // That page holds the conversation the server drew, under the id of its hidden field: it goes on
    // here under the same id (sent with the next question, and found again after a reload).
    var drawnSender = form.querySelector('input[name=sender]');
    if (drawnSender && SENDER_RE.test(drawnSender.value) && log.querySelector('[data-role=user]')) {
      keepSender(drawnSender.value);
    }
    var phone = CONFIG.phone && typeof CONFIG.phone === 'object' ? CONFIG.phone : {};
    var busy = false;

    // ---- where the page scrolls ------------------------------------------------------------
    //
    // The page itself scrolls (no scroll box inside it); the question field stays in view at the
    // bottom (position: sticky, chat.css). After an answer, the start of the answer is brought to
    // the top of the window, so that a long answer is read from its beginning.

    // An instant jump, never an animation: the answer is there at once, and motion is spared.
    function showStart(node) {
      if (node && node.scrollIntoView) {
        node.scrollIntoView({ block: 'start', behavior: 'auto' });
      }
    }

    /** The question field gets the focus without moving the page (it is always in view). */
    function focusInput() {
      try {
        input.focus({ preventScroll: true });
      } catch (e) {
        input.focus();
      }
    }

    function append(msg) {
      log.appendChild(msg);
      return msg;
    }

    /** A new message: returns {msg, bubble}; `who` is "user" or "bot". */
    function bubble(who, modifier) {
      var msg = el('div', 'chat__msg chat__msg--' + who + (modifier ? ' ' + modifier : ''));
      msg.setAttribute('data-role', who);
      var body = el('div', 'chat__bubble');
      msg.appendChild(body);
      return { msg: msg, bubble: body };
    }

    function prefix(key) {
      var text = t(key);
      return text ? text + ' ' : '';
    }

    function textParagraph(start, text) {
      var p = el('p', 'chat__text');
      if (start) {
        p.appendChild(srOnly(start));
      }
      p.appendChild(document.createTextNode(text));
      return p;
    }

    /** Runs of the server ({text} or {text, tel}) into `parent`: a confirmed number is a tel: link.
     *  `reference` (PAN-…, MSG-…), when given, is kept on one line wherever it appears (.chat__ref). */
    function appendRuns(parent, runs, reference) {
      runs.forEach(function (run) {
        if (!run || typeof run.text !== 'string') {
          return;
        }
        if (typeof run.tel === 'string' && TEL_RE.test(run.tel)) {
          var a = el('a', 'fr-link chat__tel', run.text);
          a.href = run.tel;
          parent.appendChild(a);
          return;
        }
        var parts = reference ? run.text.split(reference) : [run.text];
        parts.forEach(function (part, i) {
          if (i > 0) {
            parent.appendChild(el('span', 'chat__ref', reference));
          }
          if (part) {
            parent.appendChild(document.createTextNode(part));
          }
        });
      });
      return parent;
    }

    function isRuns(value) {
      return Array.isArray(value) && value.length > 0;
    }

    /** A bot text drawn from its `display`: the lead sentence, the short list, then the full text
     *  behind "En savoir plus" (a <details>, keyboard and screen-reader friendly). */
    function displayNodes(display, start) {
      var nodes = [];
      var lead = el('p', 'chat__text chat__lead');
      if (start) {
        lead.appendChild(srOnly(start));
      }
      appendRuns(lead, isRuns(display.lead) ? display.lead : []);
      nodes.push(lead);
      if (isRuns(display.english)) { // a message's English part: marked so, for screen readers (RGAA 8.8)
        var english = el('p', 'chat__text');
        english.lang = 'en';
        nodes.push(appendRuns(english, display.english));
      }
      if (Array.isArray(display.items) && display.items.length) {
        var list = el('ul', 'chat__items');
        display.items.forEach(function (item) {
          if (isRuns(item)) {
            list.appendChild(appendRuns(el('li'), item));
          }
        });
        if (list.childNodes.length) {
          nodes.push(list);
        }
      }
      if (isRuns(display.more)) {
        var details = el('details', 'chat__more');
        details.appendChild(el('summary', 'chat__more-summary', t('more')));
        details.appendChild(appendRuns(el('p', 'chat__text'), display.more));
        nodes.push(details);
      }
      return nodes;
    }

    function userBubble(text) {
      var b = bubble('user');
      b.bubble.appendChild(textParagraph(prefix('you'), text));
      append(b.msg);
      if (restart) {
        restart.hidden = false;
      }
      return b.msg;
    }

    function choiceList(buttons) {
      var list = el('ul', 'fr-btns-group fr-btns-group--inline fr-btns-group--sm chat__choices');
      buttons.forEach(function (button) {
        if (!button || typeof button.title !== 'string' || typeof button.payload !== 'string') {
          return;
        }
        var li = el('li');
        var btn = el('button', 'fr-btn fr-btn--secondary fr-btn--sm chat__choice', button.title);
        btn.type = 'button';
        btn.setAttribute('data-payload', button.payload);
        li.appendChild(btn);
        list.appendChild(li);
      });
      return list.childNodes.length ? list : null;
    }

    function linkList(links) {
      var list = el('ul', 'chat__links');
      links.forEach(function (link) {
        if (!link || typeof link.title !== 'string' || !link.title) {
          return;
        }
        var url = safeUrl(link.url);
        if (!url) {
          return;
        }
        var a = el('a', 'fr-link', link.title);
        a.href = url.href;
        if (url.protocol !== 'mailto:') {
          a.target = '_blank';
          a.rel = 'noopener';
          a.appendChild(srOnly(' ' + t('new_window')));
        }
        var li = el('li');
        li.appendChild(a);
        list.appendChild(li);
      });
      return list.childNodes.length ? list : null;
    }

    /** Renders one answer (an array of bot messages); links go to its last bubble. Returns the
     *  first message added (the start of the answer). `restored`: drawn again after a reload, so
     *  no rating is asked. */
    function renderAnswer(messages, restored) {
      var bubbles = [];
      var links = [];
      var answer = null;
      messages.forEach(function (m) {
        if (!m || typeof m !== 'object') {
          return;
        }
        var hasText = typeof m.text === 'string' && m.text.length > 0;
        var choices = Array.isArray(m.buttons) ? choiceList(m.buttons) : null;
        if (m.custom && typeof m.custom === 'object' && Array.isArray(m.custom.links)) {
          links = links.concat(m.custom.links);
        }
        if (m.custom && typeof m.custom === 'object' && m.custom.answer && typeof m.custom.answer === 'object') {
          answer = m.custom.answer;
        }
        if (hasText || choices) {
          var b = bubble('bot');
          if (hasText && m.display && typeof m.display === 'object') {
            displayNodes(m.display, prefix('assistant')).forEach(function (node) {
              b.bubble.appendChild(node);
            });
          } else {
            b.bubble.appendChild(hasText ? textParagraph(prefix('assistant'), m.text) : srOnly(prefix('assistant')));
          }
          if (choices) {
            b.bubble.appendChild(choices);
          }
          bubbles.push(b);
        }
      });
      var list = links.length ? linkList(links) : null;
      if (list) {
        if (!bubbles.length) {
          var only = bubble('bot');
          only.bubble.appendChild(srOnly(prefix('assistant')));
          bubbles.push(only);
        }
        bubbles[bubbles.length - 1].bubble.appendChild(list);
      }
      if (!bubbles.length) {
        return errorBubble(UNAVAILABLE, true);
      }
      var actions = inChatActions(links);
      if (actions) {
        bubbles[bubbles.length - 1].bubble.appendChild(actions);
      }
      bubbles.forEach(function (b) {
        append(b.msg);
      });
      if (answer && typeof answer.topic === 'string') {
        topics.push(answer.topic);
      }
      if (!restored && answer && typeof answer.destination === 'string' && answer.destination) {
        ratingPrompt(Array.isArray(answer.alternatives) ? answer.alternatives : []);
      }
      return bubbles[0].msg;
    }

    /** The French text of a 503 (a back end down or not answering in time, bot/web/degraded.py): the
     *  server's own, else the page's. */
    function retryLater(body) {
      var later = body && typeof body.error === 'string' && body.error ? body.error : t('retry_later');
      return later || UNAVAILABLE;
    }

    /** A bot message in DSFR error style (fr-alert), optionally with the préfecture's phone. */
    function errorBubble(text, withPhone) {
      var b = bubble('bot', 'chat__msg--error');
      var alert = el('div', 'fr-alert fr-alert--error fr-alert--sm chat__alert');
      alert.appendChild(textParagraph(prefix('assistant'), text));
      if (withPhone && phone.text) {
        var line = el('p', 'chat__text chat__phone');
        line.appendChild(document.createTextNode(prefix('phone')));
        if (typeof phone.tel === 'string' && TEL_RE.test(phone.tel)) {
          var a = el('a', 'fr-link chat__tel', phone.text);
          a.href = phone.tel;
          line.appendChild(a);
        } else {
          line.appendChild(document.createTextNode(phone.text));
        }
        if (phone.hours) {
          line.appendChild(document.createTextNode(' (' + phone.hours + ')'));
        }
        alert.appendChild(line);
      }
      b.bubble.appendChild(alert);
      append(b.msg);
      return b.msg;
    }

    /** `quiet`: busy without an answer in preparation (the conversation fetched again on load). */
    function setBusy(on, quiet) {
      busy = on;
      send.disabled = on;
      log.setAttribute('aria-busy', on ? 'true' : 'false');
      if (pending) {
        // Written, not shown or hidden: a live region's new text is said; one that appears is often not.
        pending.textContent = on && !quiet ? PENDING : '';
      }
    }

    async function post(message) {
      var resp;
      try {
        resp = await window.fetch(webhookUrl(), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ sender: senderId(), message: message }),
          credentials: 'same-origin',
          cache: 'no-store'
        });
      } catch (e) {
        return { kind: 'unavailable' };
      }
      var body = null;
      try {
        body = await resp.json();
      } catch (e) {
        body = null;
      }
      if (resp.status === 503) {
        // A back end down (bot/web/degraded.py): the server's French message, with the phone.
        return { kind: 'error', text: retryLater(body), phone: true };
      }
      if (resp.status >= 400 && resp.status < 500) {
        var reason = body && typeof body.error === 'string' && body.error ? body.error : UNAVAILABLE;
        return { kind: 'error', text: reason };
      }
      if (!resp.ok || !Array.isArray(body)) {
        return { kind: 'unavailable' };
      }
      return { kind: 'answer', messages: body };
    }

    /** Sends `message` to the bot, showing `shown` (defaults to the message) as the user's text. */
    async function sendMessage(message, shown) {
      if (busy) {
        return;
      }
      setBusy(true);
      var question = userBubble(shown === undefined ? message : shown);
      var result;
      try {
        result = await post(message);
      } catch (e) {
        result = { kind: 'unavailable' };
      }
      setBusy(false);
      var start;
      if (result.kind === 'answer') {
        start = renderAnswer(result.messages);
      } else if (result.kind === 'error') {
        start = errorBubble(result.text, result.phone === true);
      } else {
        start = errorBubble(UNAVAILABLE, true);
      }
      focusInput();
      // The question and the start of its answer at the top of the window.
      showStart(question || start);
    }

    // ---- booking and messages inside the chat (JSON API of bot/pan_channel.py) -----------------
    //
    // The contact details and the message text typed here go to /rdv/api/ only, never to the
    // chat webhook (Rasa): they are kept in the booking or ticket row alone.

    var topics = [];      // topics of the routed answers of this conversation, oldest first
    var panTexts = null;  // /rdv/api/sites: sites, reasons and the texts of the prompts
    var uid = 0;

    function nextId(prefix) {
      uid += 1;
      return prefix + '-' + uid;
    }

    /** The "…ici" buttons for a booking link (/rdv/) or a message link (/rdv/message?service=). */
    function inChatActions(links) {
      var wrap = el('p', 'chat__actions');
      var seen = {};
      links.forEach(function (link) {
        var url = link && safeUrl(link.url);
        if (!url || url.origin !== window.location.origin) {
          return;
        }
        var btn = null;
        if (url.pathname === '/rdv/' && !seen.booking) {
          seen.booking = true;
          btn = el('button', 'fr-btn fr-btn--sm fr-icon-calendar-line fr-btn--icon-left', t('book_here'));
          btn.addEventListener('click', function () {
            startBooking(btn);
          });
        } else if (url.pathname === '/rdv/message' && url.searchParams.get('service') && !seen.message) {
          seen.message = true;
          var service = url.searchParams.get('service');
          btn = el('button', 'fr-btn fr-btn--sm fr-icon-mail-line fr-btn--icon-left', t('message_here'));
          btn.addEventListener('click', function () {
            startMessage(btn, service);
          });
        }
        if (btn) {
          btn.type = 'button';
          wrap.appendChild(btn);
        }
      });
      return wrap.childNodes.length ? wrap : null;
    }

    /** A bot bubble of the in-chat flow, with one paragraph per text. */
    function stepBubble(lines) {
      var b = bubble('bot', 'chat__msg--step');
      var first = true;
      lines.forEach(function (line) {
        if (typeof line === 'string' && line) {
          b.bubble.appendChild(textParagraph(first ? prefix('assistant') : '', line));
          first = false;
        }
      });
      if (first) {
        b.bubble.appendChild(srOnly(prefix('assistant')));
      }
      append(b.msg);
      return b;
    }

    /** A notice in a step, drawn as the page's note under the field (an info icon, small text). */
    function notice(text) {
      var p = el('p', 'chat__note chat__notice fr-text--xs');
      var icon = el('span', 'fr-icon-info-line fr-icon--sm');
      icon.setAttribute('aria-hidden', 'true');
      p.appendChild(icon);
      p.appendChild(el('span', null, text));
      return p;
    }

    /** Buttons of one step; `onPick(item, button)` on a click. */
    function stepButtons(items, onPick, primary) {
      var list = el('ul', 'fr-btns-group fr-btns-group--inline fr-btns-group--sm chat__choices chat__steps');
      items.forEach(function (item) {
        var li = el('li');
        var btn = el('button', 'fr-btn fr-btn--sm ' + (item === primary ? '' : 'fr-btn--secondary'), item.label);
        btn.type = 'button';
        if (item.hint) {
          btn.appendChild(el('span', 'chat__hint', item.hint));
        }
        btn.addEventListener('click', function () {
          onPick(item, btn);
        });
        li.appendChild(btn);
        list.appendChild(li);
      });
      return list;
    }

    /** A step is answered: its controls are disabled, the chosen button stays marked. */
    function freeze(b, chosen) {
      Array.prototype.forEach.call(b.msg.querySelectorAll('button, input, textarea, select'), function (c) {
        c.disabled = true;
      });
      if (chosen) {
        chosen.setAttribute('aria-pressed', 'true');
      }
    }

    function focusStep(b) {
      var target = b.msg.querySelector('input:not([disabled]), textarea:not([disabled]), button:not([disabled])');
      if (target) {
        try {
          target.focus({ preventScroll: true });
        } catch (e) {
          target.focus();
        }
        showStart(b.msg);
        keepInView(target);
      } else {
        focusText(b.bubble);
      }
    }

    /** The focused control drawn above the docked field (html's scroll-padding-bottom, chat.css): a
        step taller than a short window (the keyboard open) scrolls just enough to show it. */
    function keepInView(node) {
      if (node && node.scrollIntoView) {
        node.scrollIntoView({ block: 'nearest', behavior: 'auto' });
      }
    }

    /** Moves the focus to a text of the flow (a confirmation), so that it is read next. */
    function focusText(node) {
      node.setAttribute('tabindex', '-1');
      try {
        node.focus({ preventScroll: true });
      } catch (e) {
        node.focus();
      }
      showStart(node.closest ? node.closest('.chat__msg') || node : node);
    }

    /** A form's refusal whose French reason the server gives: its 4xx, and the 503 of a store locked by
     *  another writer ("votre envoi n'a pas été enregistré. Réessayez dans un instant": the form keeps
     *  what was typed, to be sent again). */
    function refusedWithReason(status) {
      return (status >= 400 && status < 500) || status === 503;
    }

    function problem(result) {
      if (result.status >= 400 && result.status < 500 && result.body && typeof result.body.error === 'string') {
        errorBubble(result.body.error, false);
      } else {
        errorBubble(UNAVAILABLE, true);
      }
      input.focus();
    }

    async function withBusy(work) {
      if (busy) {
        return null;
      }
      setBusy(true);
      try {
        return await work();
      } finally {
        setBusy(false);
      }
    }

    /** A labelled field of an inline form; returns {group, input, error}. `help`: a sentence said
     *  under the field and read with it (aria-describedby), before any error. */
    function field(kind, label, hint, attrs, help) {
      var id = nextId('chat-' + (attrs.name || 'champ'));
      var group = el('div', 'fr-input-group chat__field');
      var lab = el('label', 'fr-label', label);
      lab.htmlFor = id;
      if (hint) {
        lab.appendChild(el('span', 'fr-hint-text', hint));
      }
      var control = el(kind === 'textarea' ? 'textarea' : 'input', 'fr-input');
      control.id = id;
      if (kind !== 'textarea') {
        control.type = kind;
      }
      Object.keys(attrs).forEach(function (k) {
        control.setAttribute(k, attrs[k]);
      });
      var error = el('p', 'fr-error-text chat__error');
      error.id = id + '-erreur';
      error.hidden = true;
      group.appendChild(lab);
      group.appendChild(control);
      group.appendChild(error);
      var helpId = '';
      if (help) {
        var note = el('p', 'fr-message fr-message--info chat__field-help', help);
        note.id = helpId = id + '-aide';
        group.appendChild(note);
        control.setAttribute('aria-describedby', helpId);
      }
      return { group: group, input: control, error: error, helpId: helpId };
    }

    function showError(f, text) {
      f.error.textContent = text || '';
      f.error.hidden = !text;
      var described = ((text ? f.error.id : '') + ' ' + (f.helpId || '')).trim();
      if (described) {
        f.input.setAttribute('aria-describedby', described);
      } else {
        f.input.removeAttribute('aria-describedby');
      }
      if (text) {
        f.input.setAttribute('aria-invalid', 'true');
        f.group.classList.add('fr-input-group--error');
      } else {
        f.input.removeAttribute('aria-invalid');
        f.group.classList.remove('fr-input-group--error');
      }
    }

    /** An inline form in a step bubble; the alert paragraph shows a refusal of the server. */
    function inlineForm(b, submitLabel, fields, onSubmit) {
      var f = el('form', 'chat__inline-form');
      f.noValidate = true;
      fields.forEach(function (x) {
        f.appendChild(x.group);
      });
      var alert = el('p', 'fr-error-text chat__error');
      alert.setAttribute('role', 'alert');
      alert.hidden = true;
      f.appendChild(alert);
      var submit = el('button', 'fr-btn fr-btn--sm', submitLabel);
      submit.type = 'submit';
      f.appendChild(submit);
      f.addEventListener('submit', function (event) {
        event.preventDefault();
        if (!busy) {
          onSubmit(alert);
        }
      });
      b.bubble.appendChild(f);
      return f;
    }

    function say(alert, text) {
      alert.textContent = text || '';
      alert.hidden = !text;
    }

    // -- booking

    async function loadPanTexts() {
      if (panTexts) {
        return { status: 200, body: panTexts };
      }
      var result = await callJson('GET', apiUrl('sites'));
      if (result.status === 200 && result.body && Array.isArray(result.body.sites)) {
        panTexts = result.body;
      }
      return result;
    }

    async function startBooking(origin) {
      var result = await withBusy(loadPanTexts);
      if (!result) {
        return;
      }
      if (!panTexts) {
        problem(result);
        return;
      }
      userBubble(origin ? origin.textContent : t('book'));
      var b = stepBubble([panTexts.intro, panTexts.choose_site]);
      var sites = panTexts.sites.map(function (s) {
        return { id: s.id, label: s.name, hint: ' — ' + s.address + ' (' + s.hours + ')' };
      });
      b.bubble.appendChild(stepButtons(sites, function (site, btn) {
        freeze(b, btn);
        chooseReason(site);
      }));
      var other = el('p', 'chat__actions');
      var cancel = el('button', 'fr-btn fr-btn--sm fr-btn--tertiary', t('cancel'));
      cancel.type = 'button';
      cancel.addEventListener('click', function () {
        freeze(b, cancel);
        cancelForm();
      });
      other.appendChild(cancel);
      b.bubble.appendChild(other);
      focusStep(b);
    }

    function chooseReason(site) {
      userBubble(site.label);
      var reasons = panTexts.reasons.map(function (r) {
        return { id: r.id, label: r.label };
      });
      // The topic of the conversation, when it is one of the reasons, comes first (and stands out).
      var known = null;
      for (var i = topics.length - 1; i >= 0 && !known; i--) {
        known = reasons.filter(function (r) { return r.id === topics[i]; })[0] || null;
      }
      if (known) {
        reasons = [known].concat(reasons.filter(function (r) { return r !== known; }));
      }
      var b = stepBubble([panTexts.choose_reason]);
      b.bubble.appendChild(stepButtons(reasons, function (reason, btn) {
        freeze(b, btn);
        userBubble(reason.label);
        showSlots(site, reason, null);
      }, known));
      focusStep(b);
    }

    async function showSlots(site, reason, after, given) {
      var body = given;
      if (!body) {
        var query = 'creneaux?site=' + encodeURIComponent(site.id) + '&reason=' + encodeURIComponent(reason.id) +
          (after ? '&apres=' + encodeURIComponent(after) : '');
        var result = await withBusy(function () { return callJson('GET', apiUrl(query)); });
        if (!result) {
          return;
        }
        if (result.status !== 200 || !result.body || !Array.isArray(result.body.slots)) {
          problem(result);
          return;
        }
        body = result.body;
      }
      var b = stepBubble([body.intro, body.no_slots]);
      var slots = body.slots.map(function (s) {
        return { key: s.key, label: s.label };
      });
      if (slots.length) {
        b.bubble.appendChild(stepButtons(slots, function (slot, btn) {
          freeze(b, btn);
          userBubble(slot.label);
          contactForm(site, reason, slot);
        }));
      }
      var more = el('p', 'chat__actions');
      if (body.next) {
        var next = el('button', 'fr-btn fr-btn--sm fr-btn--tertiary fr-icon-arrow-right-line fr-btn--icon-right', t('next_slots'));
        next.type = 'button';
        next.addEventListener('click', function () {
          freeze(b, next);
          showSlots(site, reason, body.next);
        });
        more.appendChild(next);
      }
      var elsewhere = el('button', 'fr-btn fr-btn--sm fr-btn--tertiary', t('other_site'));
      elsewhere.type = 'button';
      elsewhere.addEventListener('click', function () {
        freeze(b, elsewhere);
        startBooking(elsewhere);
      });
      more.appendChild(elsewhere);
      b.bubble.appendChild(more);
      focusStep(b);
    }

    function contactForm(site, reason, slot) {
      var b = stepBubble([panTexts.contact_help]);
      var email = field('email', t('email'), t('email_hint'),
        { name: 'email', autocomplete: 'email', maxlength: '254' });
      var mobile = field('tel', t('mobile'), t('mobile_hint'),
        { name: 'mobile', autocomplete: 'tel', maxlength: '20' });
      var idem = randomId(); // one key per form: a double click or a retry books once
      var errors = panTexts.errors || {};
      var frm = inlineForm(b, t('book_submit'), [email, mobile], async function (alert) {
        var e = email.input.value.trim();
        var m = mobile.input.value.trim();
        showError(email, '');
        showError(mobile, '');
        say(alert, '');
        if (!e && !m) { // tied to the e-mail field, as the server's refusal of an empty contact is
          showError(email, errors.contact_missing);
          email.input.focus();
          return;
        }
        if (e && !emailOk(e)) {
          showError(email, errors.bad_email);
          email.input.focus();
          return;
        }
        if (!e && !mobileOk(m)) {
          showError(mobile, errors.bad_mobile);
          mobile.input.focus();
          return;
        }
        var result = await withBusy(function () {
          return callJson('POST', apiUrl('reserver'), {
            site: site.id, reason: reason.id, slot: slot.key, email: e, mobile: e ? '' : m, idem: idem
          });
        });
        if (!result) {
          return;
        }
        var data = result.body || {};
        if (result.status === 200 && data.reference) {
          freeze(b);
          keepConfirmation('booking', data);
          confirmationBubble(data);
        } else if (result.status === 409 && Array.isArray(data.slots)) {
          freeze(b);
          // Taken meanwhile: the message, then the next free slots as buttons.
          var last = data.slots.length ? data.slots[data.slots.length - 1].key : null;
          showSlots(site, reason, null, { intro: data.error, slots: data.slots, next: last, no_slots: null });
        } else if (result.status === 400 && (data.code === 'bad_email' || data.code === 'contact_missing')) {
          showError(email, data.error);
          email.input.focus();
        } else if (result.status === 400 && data.code === 'bad_mobile') {
          showError(mobile, data.error);
          mobile.input.focus();
        } else if (refusedWithReason(result.status) && typeof data.error === 'string') {
          say(alert, data.error);
        } else {
          say(alert, UNAVAILABLE);
        }
      });
      frm.setAttribute('aria-label', t('contact_form'));
      focusStep(b);
    }

    /** The booking's confirmation; `restored`: drawn again after a reload (the focus stays). */
    function confirmationBubble(data, restored) {
      var notes = [data.email_note, data.reference_note]; // reference_note: nothing is sent, note it
      var b = doneBubble(data, notes);
      var list = el('ul', 'chat__links');
      var url = safeUrl(data.ics_url);
      if (url && url.origin === window.location.origin) {
        var li = el('li');
        var a = el('a', 'fr-link fr-icon-calendar-line fr-link--icon-left', data.ics_label);
        a.href = url.href;
        a.setAttribute('download', '');
        li.appendChild(a);
        list.appendChild(li);
        b.bubble.appendChild(list);
      }
      var more = el('p', 'chat__actions');
      var cancel = el('button', 'fr-btn fr-btn--sm fr-btn--tertiary', t('cancel'));
      cancel.type = 'button';
      cancel.addEventListener('click', function () {
        cancel.disabled = true;
        cancelForm();
      });
      more.appendChild(cancel);
      b.bubble.appendChild(more);
      if (!restored) {
        focusText(b.bubble.firstChild);
      }
      return b.msg;
    }

    /** A confirmation's bubble: its title, its lines (drawn from the server's `runs` when they match
     *  them: typography, the préfecture's number as a tel: link, as in the answers), then `notes`;
     *  its reference never cut across two lines. */
    function doneBubble(data, notes) {
      var b = bubble('bot', 'chat__msg--step chat__msg--done');
      var reference = typeof data.reference === 'string' ? data.reference : '';
      var lines = Array.isArray(data.lines) ? data.lines : [];
      var runs = Array.isArray(data.runs) && data.runs.length === lines.length ? data.runs : null;
      var items = [[{ text: data.title }]];
      lines.forEach(function (line, i) {
        items.push(runs && isRuns(runs[i]) ? runs[i] : [{ text: line }]);
      });
      (notes || []).forEach(function (note) {
        items.push([{ text: note }]);
      });
      var start = prefix('assistant');
      items.forEach(function (runsOfLine) {
        if (!runsOfLine.some(function (run) { return run && typeof run.text === 'string' && run.text; })) {
          return;
        }
        var p = el('p', 'chat__text');
        if (start) {
          p.appendChild(srOnly(start));
          start = '';
        }
        b.bubble.appendChild(appendRuns(p, runsOfLine, reference));
      });
      if (reference) {
        b.msg.setAttribute('data-reference', reference);
      }
      append(b.msg);
      return b;
    }

    function cancelledBubble(message, restored, reference) {
      var done = doneBubble({ title: message, reference: reference });
      if (!restored) {
        focusText(done.bubble.firstChild);
      }
      return done.msg;
    }

    async function cancelForm() {
      if (!panTexts) {
        var loaded = await withBusy(loadPanTexts);
        if (!loaded || !panTexts) {
          if (loaded) {
            problem(loaded);
          }
          return;
        }
      }
      var b = stepBubble([panTexts.cancel_title, panTexts.cancel_intro]);
      var reference = field('text', t('reference'), t('reference_hint'),
        { name: 'reference', maxlength: '20', autocomplete: 'off' });
      var contact = field('text', t('cancel_contact'), '',
        { name: 'contact', maxlength: '254', autocomplete: 'off' });
      inlineForm(b, t('cancel_submit'), [reference, contact], async function (alert) {
        say(alert, '');
        var result = await withBusy(function () {
          return callJson('POST', apiUrl('annuler'), {
            reference: reference.input.value.trim(), contact: contact.input.value.trim()
          });
        });
        if (!result) {
          return;
        }
        if (result.status === 200 && result.body && result.body.message) {
          freeze(b);
          keepConfirmation('cancelled', result.body);
          cancelledBubble(result.body.message, false, result.body.reference);
        } else if (refusedWithReason(result.status) && result.body && result.body.error) {
          say(alert, result.body.error);
          reference.input.focus();
        } else {
          say(alert, UNAVAILABLE);
        }
      });
      focusStep(b);
    }

    // -- a message to a service mailbox

    async function startMessage(origin, service) {
      var result = await withBusy(function () {
        return callJson('GET', apiUrl('message?service=' + encodeURIComponent(service)));
      });
      if (!result) {
        return;
      }
      if (result.status !== 200 || !result.body || !result.body.intro) {
        problem(result);
        return;
      }
      var texts = result.body;
      var errors = texts.errors || {};
      userBubble(origin ? origin.textContent : t('message'));
      var b = stepBubble([texts.intro]);
      b.bubble.appendChild(notice(texts.privacy)); // sent as written, unlike the questions (#chat-note)
      var subject = field('text', t('subject'), '', { name: 'subject', maxlength: String(texts.subject_max), autocomplete: 'off' });
      var body = field('textarea', t('body'), t('body_hint', { max: texts.body_max }), { name: 'body', rows: '5' });
      // What an empty address means, said before sending (tickets.email_help), as on the page.
      var email = field('email', t('reply_email'), t('email_hint'),
        { name: 'email', autocomplete: 'email', maxlength: '254' }, texts.email_help);
      var idem = randomId();
      inlineForm(b, t('message_submit'), [subject, body, email], async function (alert) {
        var values = { service: service, subject: subject.input.value.trim(), body: body.input.value.trim(),
          email: email.input.value.trim(), idem: idem };
        [subject, body, email].forEach(function (f) { showError(f, ''); });
        say(alert, '');
        if (!values.subject) {
          showError(subject, errors.subject_missing);
          subject.input.focus();
          return;
        }
        if (!values.body) {
          showError(body, errors.body_missing);
          body.input.focus();
          return;
        }
        if (values.email && !emailOk(values.email)) {
          showError(email, errors.bad_email);
          email.input.focus();
          return;
        }
        var sent = await withBusy(function () { return callJson('POST', apiUrl('message'), values); });
        if (!sent) {
          return;
        }
        var data = sent.body || {};
        var target = { subject_missing: subject, subject_too_long: subject, body_missing: body,
          body_too_long: body, bad_email: email }[data.code];
        if (sent.status === 200 && data.reference) {
          freeze(b);
          keepConfirmation('message', data);
          ackBubble(data);
        } else if (target && typeof data.error === 'string') {
          showError(target, data.error);
          target.input.focus();
        } else if (refusedWithReason(sent.status) && typeof data.error === 'string') {
          say(alert, data.error);
        } else {
          say(alert, UNAVAILABLE);
        }
      });
      focusStep(b);
    }

    function ackBubble(data, restored) {
      // The first line gives the deadline already (issue 14 item 15: said once).
      var b = doneBubble(data);
      var list = linkList([{ title: data.france_services_link, url: data.france_services_url }]);
      if (list) {
        b.bubble.appendChild(list);
      }
      if (!restored) {
        focusText(b.bubble.firstChild);
      }
      return b.msg;
    }

    /** A kept confirmation drawn again (keptConfirmations); its first node. */
    function redrawConfirmation(item) {
      if (item.kind === 'booking' && typeof item.data.reference === 'string') {
        return confirmationBubble(item.data, true);
      }
      if (item.kind === 'message' && typeof item.data.reference === 'string') {
        return ackBubble(item.data, true);
      }
      if (item.kind === 'cancelled' && typeof item.data.message === 'string') {
        return cancelledBubble(item.data.message, true, item.data.reference);
      }
      return null;
    }

    // -- "cette réponse vous a-t-elle aidé ?" after a routed answer

    /** `alternatives`: the answer's other likely topics and a person (buttons), offered after « Non ». */
    function ratingPrompt(alternatives) {
      Array.prototype.forEach.call(log.querySelectorAll('.chat__rating--open'), function (old) {
        old.parentNode.removeChild(old);
      });
      var box = el('div', 'chat__rating chat__rating--open');
      box.setAttribute('data-role', 'rating');
      var question = el('p', 'chat__rating-question fr-text--sm', t('rating_question'));
      question.id = nextId('chat-avis');
      box.appendChild(question);
      var group = el('div', 'chat__rating-buttons');
      group.setAttribute('role', 'group');
      group.setAttribute('aria-labelledby', question.id);
      [[t('rating_yes'), true], [t('rating_no'), false]].forEach(function (pair) {
        var btn = el('button', 'fr-btn fr-btn--sm fr-btn--tertiary', pair[0]);
        btn.type = 'button';
        btn.addEventListener('click', function () {
          rate(box, pair[1], btn, alternatives);
        });
        group.appendChild(btn);
      });
      box.appendChild(group);
      append(box);
    }

    async function sendRating(useful, comment) {
      var data = { sender: senderId(), useful: useful };
      if (comment) {
        data.comment = comment;
      }
      return callJson('POST', feedbackUrl(), data);
    }

    async function rate(box, useful, button, alternatives) {
      var buttons = box.querySelectorAll('button');
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
      var result = await sendRating(useful);
      if (result.status === 503 || result.status === 0) {
        // Not recorded (a back end down, the network): said in the box, whose buttons are offered again.
        var said = box.querySelector('.fr-error-text') || el('p', 'chat__rating-question fr-text--sm fr-error-text');
        said.textContent = result.status === 503 ? retryLater(result.body) : UNAVAILABLE;
        box.appendChild(said);
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
        button.focus();
        return;
      }
      while (box.firstChild) {
        box.removeChild(box.firstChild);
      }
      box.classList.remove('chat__rating--open');
      if (result.status !== 200) {
        var msg = result.body && typeof result.body.error === 'string' ? result.body.error : UNAVAILABLE;
        box.appendChild(el('p', 'chat__rating-question fr-text--sm fr-error-text', msg));
        return;
      }
      var thanks = el('p', 'chat__rating-question fr-text--sm', t('rating_thanks'));
      thanks.setAttribute('tabindex', '-1');
      box.appendChild(thanks);
      // « Non »: the other topics the question may be about, as the clarification's buttons (the log's
      // listener sends their payload).
      var others = useful ? null : choiceList(alternatives || []);
      if (others) {
        box.appendChild(el('p', 'chat__rating-question fr-text--sm', t('rating_alternatives')));
        box.appendChild(others);
      }
      var comment = field('textarea', t('comment'), t('comment_hint'),
        { name: 'commentaire', rows: '2', maxlength: '500' });
      var f = el('form', 'chat__inline-form chat__rating-form');
      f.noValidate = true;
      f.appendChild(comment.group);
      var send = el('button', 'fr-btn fr-btn--sm fr-btn--secondary', t('comment_submit'));
      send.type = 'submit';
      f.appendChild(send);
      f.addEventListener('submit', async function (event) {
        event.preventDefault();
        var text = comment.input.value.trim();
        if (!text) {
          showError(comment, t('comment_missing'));
          comment.input.focus();
          return;
        }
        send.disabled = true;
        var sent = await sendRating(useful, text);
        if (sent.status === 200) {
          box.removeChild(f);
          thanks.textContent = t('comment_thanks');
          thanks.focus();
        } else {
          send.disabled = false;
          showError(comment, sent.body && typeof sent.body.error === 'string' ? sent.body.error : UNAVAILABLE);
        }
      });
      box.appendChild(f);
      thanks.focus();
    }

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text) {
        input.value = '';
        input.focus();
        return;
      }
      if (busy) {
        return;
      }
      input.value = '';
      sendMessage(text);
    });

    // One listener for every topic button, those rendered by the server and those added later.
    log.addEventListener('click', function (event) {
      var target = event.target;
      var btn = target && target.closest ? target.closest('button[data-payload]') : null;
      if (!btn || !log.contains(btn)) {
        return;
      }
      event.preventDefault();
      sendMessage(btn.getAttribute('data-payload'), btn.textContent.trim());
    });

    // ---- the conversation goes on after a reload or a return from /rdv/ ---------------------

    var welcome = log.firstElementChild;

    /** Everything after the greeting is removed (a new conversation, or before a restore). */
    function clearLog() {
      while (log.lastElementChild && log.lastElementChild !== welcome) {
        log.removeChild(log.lastElementChild);
      }
      topics.length = 0;
      if (restart) {
        restart.hidden = true;
      }
    }

    /** Draws again the turns the server kept for this tab's sender id (GET /chat/history). */
    async function restore() {
      var sender = storedSender();
      if (!sender) {
        return;
      }
      setBusy(true, true);
      var result;
      try {
        result = await callJson('GET', historyUrl(sender));
      } finally {
        setBusy(false);
      }
      if (result.status === 503 && !log.querySelector('[data-role=user]')) {
        // Kept, but not readable now (a back end down or not answering in time): said, with the phone, as a
        // message's 503 is, rather than an empty conversation. A later reload draws it again.
        errorBubble(retryLater(result.body), true);
        return;
      }
      var turns = result.status === 200 && result.body && Array.isArray(result.body.turns) ? result.body.turns : [];
      var kept = keptConfirmations(sender);
      if ((!turns.length && !kept.length) || log.querySelector('[data-role=user]')) {
        return; // nothing kept, or the person has already started typing
      }
      var lastStart = null;
      // Drawn again, not new: screen readers are not made to read the whole conversation out.
      var live = log.getAttribute('aria-live');
      log.setAttribute('aria-live', 'off');
      turns.forEach(function (turn) {
        if (!turn || typeof turn !== 'object') {
          return;
        }
        if (turn.role === 'user' && typeof turn.text === 'string') {
          lastStart = userBubble(turn.text);
        } else if (turn.role === 'bot' && Array.isArray(turn.messages)) {
          var start = renderAnswer(turn.messages, true);
          lastStart = lastStart || start;
        }
      });
      // Then the confirmations, in their order: the last one is brought into view.
      kept.forEach(function (item) {
        lastStart = redrawConfirmation(item) || lastStart;
      });
      if (kept.length && restart) {
        restart.hidden = false;
      }
      window.setTimeout(function () {
        log.setAttribute('aria-live', live || 'polite');
        if (statusLine) { // said once instead: the conversation is back
          statusLine.textContent = t('restored');
        }
      }, 0);
      chat.setAttribute('data-restored', 'true');
      if (lastStart) {
        showStart(lastStart);
      }
    }

    if (newButton) {
      // A submit button of a GET /chat/ form, for the page without JavaScript: here, the page stays.
      newButton.addEventListener('click', function (event) {
        event.preventDefault();
        if (busy) {
          return;
        }
        newSender();
        forgetConfirmations();
        clearLog();
        chat.removeAttribute('data-restored');
        if (statusLine) { // the log emptied silently: said once to screen readers
          statusLine.textContent = t('new_started');
        }
        window.scrollTo(0, 0);
        focusInput();
      });
    }

    restore();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
