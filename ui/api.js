// SPDX-License-Identifier: MIT
// The server: JSON calls, logging in and out, and Server-Sent Events read
// through fetch(). The session is an HttpOnly cookie the page never sees
// (POST /api/v1/auth/session); every call carries X-Kumo-CSRF, without
// which the server refuses a change made with the cookie.
'use strict';

const KM = (window.KM = { screens: {} });

// Who is logged in ("" when no one, or authentication is off).
KM.user = '';

class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}
KM.ApiError = ApiError;

function authHeaders(extra) {
  return Object.assign({ 'X-Kumo-CSRF': '1' }, extra || {});
}

async function readBody(res) {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    return { error: text.trim() };
  }
}

// KM.api(method, path[, body[, opts]]): the answer's JSON (null for an
// empty body), or an ApiError with the server's {"error"} message. A body
// that is a string goes raw (an item's value); anything else as JSON. A
// 401 also brings up the login form.
KM.api = async function (method, path, body, opts) {
  const init = { method, headers: authHeaders(), cache: 'no-store' };
  if (opts && opts.signal) init.signal = opts.signal;
  if (body !== undefined) {
    if (typeof body === 'string') {
      init.headers['Content-Type'] = 'text/plain; charset=utf-8';
      init.body = body;
    } else {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  const res = await fetch(path, init);
  const data = await readBody(res);
  if (res.ok) return data;
  const msg = (data && (data.error || data.message)) || res.status + ' ' + res.statusText;
  if (res.status === 401) KM.needLogin(msg);
  throw new ApiError(res.status, msg, data);
};

// Path of a namespace's endpoint: ns is "APP/NAME" (both parts are plain
// names); rest is appended as given.
KM.nsPath = (ns, rest) => {
  const [app, name] = ns.split('/');
  return '/api/v1/ns/' + encodeURIComponent(app) + '/' + encodeURIComponent(name) + (rest || '');
};

KM.login = async function (name, password) {
  const res = await fetch('/api/v1/auth/session', {
    method: 'POST',
    headers: authHeaders({ 'Content-Type': 'application/json' }),
    body: JSON.stringify({ name, password }),
    cache: 'no-store',
  });
  const data = await readBody(res);
  if (!res.ok || !data || !data.user)
    throw new ApiError(res.status, (data && data.error) || 'login failed', data);
  KM.user = data.user;
};

// Asks the server who the cookie (if any) belongs to.
KM.whoami = async function () {
  const res = await fetch('/api/v1/auth/session', { headers: authHeaders(), cache: 'no-store' });
  const data = await readBody(res);
  KM.user = res.ok && data ? data.user || '' : '';
  return KM.user;
};

KM.logout = async function () {
  try {
    await fetch('/api/v1/auth/session', { method: 'DELETE', headers: authHeaders() });
  } finally {
    KM.user = '';
  }
};

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

// KM.sse(url, onEvent, onState): follows a Server-Sent Events stream,
// reconnecting with backoff and Last-Event-ID; onEvent({type, data, id})
// per event, onState('live' | 'retry' | 'closed') as the connection goes.
// Returns {close()}.
KM.sse = function (url, onEvent, onState) {
  const ctl = new AbortController();
  let lastId = '';
  let delay = 1000;
  const state = (s) => { if (!ctl.signal.aborted && onState) onState(s); };

  // One stream's lines (RFC: CR, LF or CRLF end a line) into events.
  async function consume(res) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let ev = { type: '', data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      for (;;) {
        const i = buf.search(/[\r\n]/);
        if (i < 0) break;
        if (buf[i] === '\r' && i === buf.length - 1) break; // its LF may follow
        const line = buf.slice(0, i);
        buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (ev.id !== null) lastId = ev.id;
          if (ev.data.length)
            onEvent({ type: ev.type || 'message', data: ev.data.join('\n'), id: ev.id });
          ev = { type: '', data: [], id: null };
          continue;
        }
        if (line[0] === ':') continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let val = c < 0 ? '' : line.slice(c + 1);
        if (val[0] === ' ') val = val.slice(1);
        if (field === 'event') ev.type = val;
        else if (field === 'data') ev.data.push(val);
        else if (field === 'id') ev.id = val;
      }
    }
  }

  (async function run() {
    while (!ctl.signal.aborted) {
      try {
        const headers = authHeaders({ Accept: 'text/event-stream' });
        if (lastId) headers['Last-Event-ID'] = lastId;
        const res = await fetch(url, { headers, signal: ctl.signal, cache: 'no-store' });
        if (res.status === 401 || res.status === 403) {
          // Asking again will not help: log in, or lack the permission.
          const data = await readBody(res);
          if (res.status === 401) KM.needLogin((data && data.error) || 'authentication required');
          state('closed');
          return;
        }
        if (res.ok && res.body) {
          delay = 1000;
          state('live');
          await consume(res);
        } else {
          await res.text();
        }
      } catch (e) {
        if (ctl.signal.aborted) return;
      }
      state('retry');
      await sleep(delay, ctl.signal);
      delay = Math.min(delay * 2, 15000);
    }
  })();
  return { close: () => ctl.abort() };
};
