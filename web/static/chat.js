/* Aiguillage — page de discussion.
 *
 * Plain ES2017, no build step, no framework. The page is served with
 * `script-src 'self'; style-src 'self'`: this file never writes HTML (no innerHTML),
 * never sets a style attribute and never uses inline handlers. Every text from the
 * server or the user is written with textContent.
 */
(function () {
  'use strict';

  var SENDER_KEY = 'aiguillage-sender';
  var SENDER_RE = /^[A-Za-z0-9_-]{1,64}$/;
  var UNAVAILABLE = 'Le service est momentanément indisponible. Vous pouvez appeler la préfecture.';
  var NEW_WINDOW = ' (nouvelle fenêtre)';
  var ALLOWED_PROTOCOLS = ['https:', 'http:', 'mailto:'];

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

  // ---- sender id -------------------------------------------------------------------------

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

  function senderId() {
    var id = null;
    try {
      id = window.sessionStorage.getItem(SENDER_KEY);
    } catch (e) {
      id = memorySender; // storage disabled: keep the id for this page only
    }
    if (!id || !SENDER_RE.test(id)) {
      id = randomId();
      memorySender = id;
      try {
        window.sessionStorage.setItem(SENDER_KEY, id);
      } catch (e) {
        // storage disabled or full: the in-memory id is used
      }
    }
    return id;
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
    if (!chat || !log || !form || !input || !send) {
      return;
    }
    var phone = chat.getAttribute('data-phone') || '';
    var phoneHours = chat.getAttribute('data-phone-hours') || '';
    // The text comes from the routing tree (messages.unavailable), rendered into the page.
    UNAVAILABLE = chat.getAttribute('data-unavailable') || UNAVAILABLE;
    var busy = false;

    function scrollToEnd() {
      log.scrollTop = log.scrollHeight;
    }

    function append(msg) {
      log.appendChild(msg);
      scrollToEnd();
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

    function textParagraph(prefix, text) {
      var p = el('p', 'chat__text');
      p.appendChild(srOnly(prefix));
      p.appendChild(document.createTextNode(text));
      return p;
    }

    function userBubble(text) {
      var b = bubble('user');
      b.bubble.appendChild(textParagraph('Vous : ', text));
      append(b.msg);
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
          a.appendChild(srOnly(NEW_WINDOW));
        }
        var li = el('li');
        li.appendChild(a);
        list.appendChild(li);
      });
      return list.childNodes.length ? list : null;
    }

    /** Renders one webhook answer (an array of bot messages); links go to its last bubble. */
    function renderAnswer(messages) {
      var bubbles = [];
      var links = [];
      messages.forEach(function (m) {
        if (!m || typeof m !== 'object') {
          return;
        }
        var hasText = typeof m.text === 'string' && m.text.length > 0;
        var choices = Array.isArray(m.buttons) ? choiceList(m.buttons) : null;
        if (m.custom && typeof m.custom === 'object' && Array.isArray(m.custom.links)) {
          links = links.concat(m.custom.links);
        }
        if (hasText || choices) {
          var b = bubble('bot');
          b.bubble.appendChild(hasText ? textParagraph('Assistant : ', m.text) : srOnly('Assistant : '));
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
          only.bubble.appendChild(srOnly('Assistant : '));
          bubbles.push(only);
        }
        bubbles[bubbles.length - 1].bubble.appendChild(list);
      }
      if (!bubbles.length) {
        errorBubble(UNAVAILABLE, true);
        return;
      }
      bubbles.forEach(function (b) {
        append(b.msg);
      });
    }

    /** A bot message in DSFR error style (fr-alert), optionally with the préfecture's phone. */
    function errorBubble(text, withPhone) {
      var b = bubble('bot', 'chat__msg--error');
      var alert = el('div', 'fr-alert fr-alert--error fr-alert--sm chat__alert');
      alert.appendChild(textParagraph('Assistant : ', text));
      if (withPhone && phone) {
        var line = el('p', 'chat__text chat__phone');
        line.appendChild(document.createTextNode('Téléphone : '));
        var a = el('a', 'fr-link', phone);
        a.href = 'tel:' + phone.replace(/[^0-9+]/g, '');
        line.appendChild(a);
        if (phoneHours) {
          line.appendChild(document.createTextNode(' (' + phoneHours + ')'));
        }
        alert.appendChild(line);
      }
      b.bubble.appendChild(alert);
      append(b.msg);
    }

    function setBusy(on) {
      busy = on;
      send.disabled = on;
      log.setAttribute('aria-busy', on ? 'true' : 'false');
      if (pending) {
        pending.hidden = !on;
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
      userBubble(shown === undefined ? message : shown);
      var result;
      try {
        result = await post(message);
      } catch (e) {
        result = { kind: 'unavailable' };
      }
      setBusy(false);
      if (result.kind === 'answer') {
        renderAnswer(result.messages);
      } else if (result.kind === 'error') {
        errorBubble(result.text, false);
      } else {
        errorBubble(UNAVAILABLE, true);
      }
      scrollToEnd();
      input.focus();
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

    scrollToEnd();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
