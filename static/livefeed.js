// livefeed page glue. Loaded after htmx 2 and its `ws` extension; pages work (without live updates) when any of
// the three is missing.
//
// The page's hidden `#live` element carries `ws-connect` for htmx's ws extension. This script:
//   - resumes exactly: every (re)connect asks for `after_id=<highest cursor the page shows>` and `epoch=`, by
//     overriding `htmx.createWebSocket`; fragments whose items are already on the page are dropped;
//   - paces reconnects: full jitter, 1 s doubling to a 30 s cap (`htmx.config.wsReconnectDelay`), never sooner
//     than the server's `retry-after-ms` hint;
//   - shows the state in `#live-status[data-state]`: idle, connected, reconnecting or fallback;
//   - reloads on `too_far_behind` / `epoch_changed` / `cursor_ahead` (close 4000 / 4001 / 4002, or 409 when
//     polling);
//   - falls back to htmx polling of the page's `/fragments/...` endpoint (`#live[data-poll]`) when the server
//     refuses the live view (503/429 for a cap), after repeated failed attempts, or on a close htmx will not
//     retry, and tries to go live again every 15-30 s;
//   - keeps the reader's place: new messages stick to the bottom only for a reader already there, older pages
//     prepended above do not move what is on screen.
(function () {
  'use strict';
  var htmx = window.htmx;
  var statusElt = document.getElementById('live-status');
  if (!htmx || !statusElt) return;

  var RECONNECT_BASE_MS = 1000;
  var RECONNECT_CAP_MS = 30000;
  var FAILURES_BEFORE_FALLBACK = 4; // attempts in a row that never opened
  var LIVE_RETRY_MIN_MS = 15000;    // while polling, how often to try live again
  var LIVE_RETRY_MAX_MS = 30000;
  var POLL_SECONDS = 2;
  var POLL_LIMIT = 200;
  var REFRESH_MS = 3000;            // dependent fragments refresh at most this often
  var HIDDEN_PAUSE_MS = 5 * 60 * 1000;
  var CAP_REFUSALS = ['view_cap', 'global_cap', 'client_cap'];

  var LABELS = {
    connected: ['Live', 'Connected: this page updates as things happen.'],
    idle: ['Connecting…', 'Not connected yet.'],
    reconnecting: ['Reconnecting…', 'The live connection dropped; reconnecting. Nothing is missed meanwhile.'],
    fallback: ['Polling', 'Live updates are unavailable right now: checking for updates every few seconds and ' +
      'trying live again shortly.']
  };

  var spec = null;      // what the server-rendered #live element asked for
  var cursor = 0;       // the highest cursor the page reflects
  var epoch = '';
  var mode = 'off';     // live: htmx's ws extension owns the connection; probing: polling while a live attempt
                        // runs; fallback: polling; paused: hidden tab, nothing running
  var socket = null;    // the newest WebSocket this script created; events of older ones are ignored
  var generation = 0;   // which #live element is current: a removed one's pending reconnect must not connect
  var opened = false;
  var failures = 0;
  var retireNext = false; // the extension's next attempt ends this live session (see createWebSocket)
  var retryHintMs = 0;
  var refusalRetryMs = 0;
  var pollElt = null;
  var liveTimer = null;
  var pauseTimer = null;
  var lastPollFull = false;
  var unseen = 0;

  function setState(state, label) {
    statusElt.setAttribute('data-state', state);
    var text = statusElt.querySelector('.label');
    if (text) text.textContent = label || LABELS[state][0];
    statusElt.title = LABELS[state][1];
  }

  // MARK: the live connection

  var live = document.getElementById('live');
  if (live && live.getAttribute('ws-connect')) {
    spec = {
      socket: live.getAttribute('ws-connect'),
      poll: live.getAttribute('data-poll'),
      pollAfter: live.hasAttribute('data-poll-after')
    };
    cursor = Number(live.getAttribute('data-cursor')) || 0;
    epoch = live.getAttribute('data-epoch') || '';
    mode = 'live';
  }

  // An object the extension can hold and close without anything happening: ends its reconnect loop.
  function inertSocket() {
    function nothing() {}
    return { readyState: 3, OPEN: 1, send: nothing, close: nothing, addEventListener: nothing };
  }

  htmx.createWebSocket = function (url) {
    var target = new URL(url, location.href);
    var from = Number(target.searchParams.get('lf_gen')) || 0;
    target.searchParams.delete('lf_gen');
    if (from !== generation) return inertSocket();
    if (retireNext || (mode !== 'live' && mode !== 'probing')) {
      retireNext = false;
      setTimeout(function () { enterFallback(refusalRetryMs); }, 0);
      return inertSocket();
    }
    target.searchParams.set('after_id', String(cursor));
    if (epoch) target.searchParams.set('epoch', epoch);
    var ws = new WebSocket(target.href);
    ws.binaryType = htmx.config.wsBinaryType || 'blob';
    socket = ws;
    opened = false;
    // Registered before the extension's own handlers, so they run first.
    ws.addEventListener('open', function () { if (ws === socket) onOpen(); });
    ws.addEventListener('close', function (event) { if (ws === socket) onClose(event, target); });
    return ws;
  };

  htmx.config.wsReconnectDelay = function (retryCount) {
    if (retireNext) return 0;
    var ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * Math.pow(2, retryCount));
    var delay = Math.random() * ceiling;
    if (retryHintMs) {
      delay = Math.min(RECONNECT_CAP_MS, retryHintMs + delay);
      retryHintMs = 0;
    }
    return delay;
  };

  function onOpen() {
    opened = true;
    failures = 0;
    refusalRetryMs = 0;
    if (mode === 'probing') {
      mode = 'live';
      stopPolling();
    }
    clearTimeout(liveTimer);
    setState('connected');
  }

  function onClose(event, target) {
    var code = event.code;
    if (code === 4000 || code === 4001 || code === 4002) { // too far behind, or another database: start over
      reloadPage();
      return;
    }
    if (!opened) failures++;
    // htmx's ws extension reconnects after these codes only.
    var retried = code === 1006 || code === 1012 || code === 1013;
    if (mode === 'probing') {
      if (retried) retireNext = true; else enterFallback(0);
      return;
    }
    if (mode !== 'live') return;
    if (!retried) {
      enterFallback(0);
      return;
    }
    if (!opened) probe(target);
    if (failures >= FAILURES_BEFORE_FALLBACK) retireNext = true;
    setState('reconnecting');
  }

  // Browsers hide why an upgrade failed, so ask the same URL over plain HTTP: a cap refusal answers 503 or 429
  // with a JSON code naming the cap (on a fresh connection: no credentials, so not a pooled page connection).
  function probe(target) {
    var url = new URL(target.href);
    url.protocol = location.protocol;
    var attempt = socket;
    fetch(url.href, { credentials: 'omit', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (response.status !== 503 && response.status !== 429) return;
        var retryAfter = Number(response.headers.get('Retry-After')) || 0;
        return response.json().catch(function () { return {}; }).then(function (body) {
          var code = body && body.error && body.error.code;
          if (response.status === 429 || CAP_REFUSALS.indexOf(code) >= 0) {
            if (attempt !== socket || mode !== 'live' || opened) return;
            refusalRetryMs = retryAfter * 1000;
            retireNext = true;
          }
        });
      })
      .catch(function () {});
  }

  function removeLiveElement() {
    socket = null;
    generation++;
    var el = document.getElementById('live');
    if (el) htmx.remove(el);
  }

  function addLiveElement() {
    removeLiveElement();
    var el = document.createElement('div');
    el.id = 'live';
    el.hidden = true;
    el.setAttribute('hx-ext', 'ws');
    el.setAttribute('ws-connect', spec.socket + (spec.socket.indexOf('?') < 0 ? '?' : '&') + 'lf_gen=' + generation);
    document.body.appendChild(el);
    htmx.process(el);
  }

  function enterFallback(retryAfterMs) {
    if (mode === 'fallback' || mode === 'paused' || mode === 'off') return;
    mode = 'fallback';
    retireNext = false;
    removeLiveElement();
    setState('fallback');
    startPolling();
    var wait = LIVE_RETRY_MIN_MS + Math.random() * (LIVE_RETRY_MAX_MS - LIVE_RETRY_MIN_MS);
    clearTimeout(liveTimer);
    liveTimer = setTimeout(tryLive, Math.max(wait, retryAfterMs || 0));
  }

  function tryLive() {
    if (mode !== 'fallback') return;
    mode = 'probing';
    failures = 0;
    retireNext = false;
    addLiveElement();
  }

  function startPolling() {
    if (pollElt || !spec.poll) return;
    pollElt = document.createElement('div');
    pollElt.id = 'live-poll';
    pollElt.hidden = true;
    pollElt.setAttribute('hx-get', spec.poll);
    pollElt.setAttribute('hx-trigger', 'load, every ' + POLL_SECONDS + 's, livefeed:poll');
    pollElt.setAttribute('hx-swap', 'none');
    document.body.appendChild(pollElt);
    htmx.process(pollElt);
  }

  function stopPolling() {
    if (!pollElt) return;
    htmx.remove(pollElt);
    pollElt = null;
  }

  function reloadPage() {
    var key = 'livefeed-reloaded-at';
    var last = 0;
    try { last = Number(sessionStorage.getItem(key)) || 0; } catch (e) {}
    if (Date.now() - last < 15000) { // reloaded moments ago: poll rather than loop
      enterFallback(0);
      return;
    }
    try { sessionStorage.setItem(key, String(Date.now())); } catch (e) {}
    location.reload();
  }

  // Polls resume from the cursor too, and a full page of messages asks for the next one at once.
  document.addEventListener('htmx:configRequest', function (event) {
    if (event.detail.elt === pollElt && spec.pollAfter) {
      event.detail.path = spec.poll + '?after_id=' + cursor + '&limit=' + POLL_LIMIT;
    }
  });

  document.addEventListener('htmx:afterRequest', function (event) {
    var xhr = event.detail.xhr;
    var seen = xhr && xhr.getResponseHeader('X-Livefeed-Epoch');
    // 409: the page's cursor is ahead of the database (it was restored): the page's data is from another copy.
    if ((seen && epoch && seen !== epoch) || (xhr && xhr.status === 409)) {
      reloadPage();
      return;
    }
    if (event.detail.elt === pollElt && event.detail.successful && lastPollFull) {
      lastPollFull = false;
      setTimeout(function () { if (pollElt) htmx.trigger(pollElt, 'livefeed:poll'); }, 0);
    }
  });

  // Pause a page nobody looks at for a while (it resumes by cursor when shown again).
  document.addEventListener('visibilitychange', function () {
    clearTimeout(pauseTimer);
    if (document.hidden) {
      pauseTimer = setTimeout(pause, HIDDEN_PAUSE_MS);
    } else if (mode === 'paused') {
      mode = 'live';
      failures = 0;
      setState('idle');
      addLiveElement();
    }
  });

  function pause() {
    if (mode === 'off') return;
    mode = 'paused';
    clearTimeout(liveTimer);
    removeLiveElement();
    stopPolling();
    setState('idle', 'Paused');
  }

  // MARK: every fragment that arrives, live or polled

  htmx.defineExtension('livefeed', {
    transformResponse: function (text, xhr, elt) {
      if (text.indexOf('<') < 0) return text;
      var template = document.createElement('template');
      template.innerHTML = text;
      var fragment = template.content;
      var appended = 0;
      var prepended = false;
      var changed = [];
      Array.prototype.slice.call(fragment.children).forEach(function (el) {
        if (el.id === 'live-event') {
          onStatus(el);
          return;
        }
        var oob = el.getAttribute('hx-swap-oob');
        var current = el.id ? document.getElementById(el.id) : null;
        if (oob === 'true' && !current) {
          el.remove(); // a channel or person this page does not list yet
          var grew = document.getElementById('list-grew');
          if (grew) grew.hidden = false;
          return;
        }
        var at = el.getAttribute('data-cursor');
        if (oob === 'true' && current && at !== null &&
            Number(current.getAttribute('data-cursor')) > Number(at)) {
          el.remove(); // older than what the page shows: the page never goes backwards
          return;
        }
        if (at !== null && Number(at) > cursor) cursor = Number(at);
        if (el.id === 'messages') {
          Array.prototype.slice.call(el.children).forEach(function (item) {
            if (item.id && document.getElementById(item.id)) {
              item.remove(); // already shown: exactly once, whatever path it came by
            } else if (oob === 'beforeend') {
              item.classList.add('fresh');
              appended++;
            }
          });
          if (oob === 'afterbegin') prepended = el.children.length > 0;
          if (!el.children.length) el.remove();
        } else if (current && current.textContent !== el.textContent) {
          if (el.classList.contains('count')) el.classList.add('bumped');
          changed.push('#' + el.id);
        }
      });
      localizeTimes(fragment);
      if (pollElt && elt === pollElt) {
        lastPollFull = spec.pollAfter && appended >= POLL_LIMIT;
      }
      keepPlace(appended, prepended);
      if (changed.length) {
        scheduleRefreshes(changed);
        Promise.resolve().then(agreeNouns);
      }
      return template.innerHTML;
    }
  });

  function onStatus(el) {
    var retry = Number(el.getAttribute('data-retry-after-ms'));
    if (retry > 0) retryHintMs = retry;
  }

  // MARK: the reader's place

  var scroller = document.scrollingElement || document.documentElement;
  var jump = document.getElementById('latest');

  function nearBottom() {
    return window.innerHeight + window.scrollY >= scroller.scrollHeight - 120;
  }

  // Runs before the swap; the rest runs right after it, before the next paint.
  function keepPlace(appended, prepended) {
    if (!appended && !prepended) return;
    var stick = appended && nearBottom();
    var height = scroller.scrollHeight;
    var top = window.scrollY;
    Promise.resolve().then(function () {
      var empty = document.getElementById('no-messages');
      if (empty && appended) empty.remove();
      if (prepended) window.scrollTo(0, top + scroller.scrollHeight - height);
      if (!appended) return;
      if (stick) {
        window.scrollTo(0, scroller.scrollHeight);
      } else if (jump) {
        unseen += appended;
        jump.textContent = unseen + (unseen === 1 ? ' new message' : ' new messages') + ' below ↓';
        jump.hidden = false;
      }
    });
  }

  if (jump) {
    jump.addEventListener('click', function (event) {
      event.preventDefault();
      window.scrollTo(0, scroller.scrollHeight);
    });
    window.addEventListener('scroll', function () {
      if (!jump.hidden && nearBottom()) {
        jump.hidden = true;
        unseen = 0;
      }
    }, { passive: true });
  }

  // "1 message" / "2 messages" after a live count.
  function agreeNouns() {
    document.querySelectorAll('.noun[data-one]').forEach(function (noun) {
      var count = noun.previousElementSibling;
      if (!count) return;
      noun.textContent = noun.getAttribute(count.textContent.trim() === '1' ? 'data-one' : 'data-many');
    });
  }

  // MARK: fragments that depend on others

  var refreshAt = {};
  var refreshTimer = {};

  // `<div hx-get=… hx-trigger="livefeed:refresh" data-refresh-after="#totals">` re-fetches when #totals changes,
  // at most every REFRESH_MS, and always after the last change.
  function scheduleRefreshes(changedSelectors) {
    document.querySelectorAll('[data-refresh-after]').forEach(function (el, index) {
      if (changedSelectors.indexOf(el.getAttribute('data-refresh-after')) < 0) return;
      if (refreshTimer[index]) return;
      var wait = Math.max(0, (refreshAt[index] || 0) + REFRESH_MS - Date.now());
      refreshTimer[index] = setTimeout(function () {
        refreshTimer[index] = null;
        refreshAt[index] = Date.now();
        htmx.trigger(el, 'livefeed:refresh');
      }, wait);
    });
  }

  // MARK: times in the reader's zone

  var timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
  var dateTimeFormat = new Intl.DateTimeFormat(undefined, {
    month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit'
  });
  var fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

  function localizeTimes(root) {
    var today = new Date().toDateString();
    root.querySelectorAll('time.when[datetime]').forEach(function (el) {
      var when = new Date(el.getAttribute('datetime'));
      if (isNaN(when.getTime())) return;
      el.textContent = (when.toDateString() === today ? timeFormat : dateTimeFormat).format(when);
      el.title = fullFormat.format(when);
    });
  }

  // MARK: start

  localizeTimes(document);
  var stream = document.getElementById('messages');
  if (stream && stream.classList.contains('messages') && !location.hash) {
    window.scrollTo(0, scroller.scrollHeight);
  }
  if (mode === 'live') setState('idle');
})();
