// SPDX-License-Identifier: MIT
// The console's frame: DOM helpers (server data only ever becomes text),
// the hash router, notices, the confirm dialog and the login form.
'use strict';

(function () {
  // el('tag', {class, text, onclick, value, checked, ...attrs}, ...children):
  // strings become text nodes, never markup.
  KM.el = function (tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k === 'value' || k === 'checked') e[k] = v;
      else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false || kid === '') continue;
      e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  };
  const el = KM.el;

  let uid = 0;
  KM.uid = (p) => (p || 'f') + ++uid;

  // A labelled field: {label, input} where input is an element; returns
  // the wrapper. The input gets an id for the label.
  KM.field = function (label, input, hint) {
    if (!input.id) input.id = KM.uid('in');
    const parts = [el('label', { for: input.id, text: label }), input];
    if (hint) {
      const h = el('small', { class: 'hint', id: input.id + '-hint', text: hint });
      input.setAttribute('aria-describedby', h.id);
      parts.push(h);
    }
    return el('div', { class: 'field' }, parts);
  };

  KM.pad2 = (n) => String(n).padStart(2, '0');
  // Nanoseconds since the epoch (a number or a string) as local time.
  KM.fmtTime = function (ns) {
    if (ns === undefined || ns === null || ns === '') return '';
    const d = new Date(Number(ns) / 1e6);
    if (isNaN(d)) return String(ns);
    return d.getFullYear() + '-' + KM.pad2(d.getMonth() + 1) + '-' + KM.pad2(d.getDate()) + ' ' +
      KM.pad2(d.getHours()) + ':' + KM.pad2(d.getMinutes()) + ':' + KM.pad2(d.getSeconds());
  };

  KM.MASK = '******';
  // A value for display: secret ones as a mask the eye sees as such.
  KM.value = function (v, secret) {
    if (secret || v === KM.MASK) return el('span', { class: 'masked', text: '••••••', title: 'secret' });
    if (v === undefined || v === null) return el('span', { class: 'none', text: '—' });
    return el('code', { class: 'val', text: String(v) });
  };

  // A table with a header, skeleton rows until fill() (the page does not
  // jump when data arrives) and, on phones, each row as a card with the
  // column names beside its cells.
  KM.table = function (cols, opts) {
    opts = opts || {};
    const tbody = el('tbody');
    const table = el('table', { class: 'rows' + (opts.class ? ' ' + opts.class : '') },
      opts.caption ? el('caption', { class: 'sr', text: opts.caption }) : null,
      el('thead', null, el('tr', null, cols.map((c) => el('th', { scope: 'col', text: c })))),
      tbody);
    const skeleton = (n) => {
      tbody.replaceChildren();
      for (let i = 0; i < n; i++)
        tbody.append(el('tr', { class: 'skel', 'aria-hidden': 'true' },
          cols.map((c) => el('td', { 'data-label': c }, el('span', { class: 'bar' })))));
    };
    skeleton(opts.skeleton === undefined ? 3 : opts.skeleton);
    table.setAttribute('aria-busy', 'true');
    return {
      table,
      tbody,
      skeleton,
      // rows: arrays of cells (string or Node), or {cells, class, id}.
      fill(rows, empty) {
        tbody.replaceChildren();
        table.removeAttribute('aria-busy');
        if (!rows.length && empty) {
          tbody.append(el('tr', { class: 'empty' }, el('td', { colspan: cols.length, text: empty })));
          return;
        }
        for (const r of rows) tbody.append(KM.row(cols, r));
      },
    };
  };
  KM.row = function (cols, r) {
    const cells = Array.isArray(r) ? r : r.cells;
    const tr = el('tr', Array.isArray(r) ? null : { class: r.class, 'data-key': r.key });
    cells.forEach((c, i) => tr.append(el('td', { 'data-label': cols[i] }, c)));
    return tr;
  };

  // A release's or the draft's diff as a table.
  KM.diffTable = function (diff, caption) {
    const t = KM.table(['Key', 'Change', 'Old', 'New'], { skeleton: 0, class: 'diff', caption });
    t.fill((diff || []).map((d) => ({
      class: 'op-' + d.op,
      cells: [el('code', { text: d.key }), el('span', { class: 'badge op ' + d.op, text: d.op }),
        'old' in d ? KM.value(d.old) : '', 'new' in d ? KM.value(d.new) : ''],
    })), 'No changes.');
    return t.table;
  };

  // ---- notices ----
  const toast = document.getElementById('toast');
  let toastTimer = 0;
  KM.notify = function (text, kind) {
    toast.textContent = text;
    toast.className = 'toast show ' + (kind || 'info');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.className = 'toast'; }, kind === 'error' ? 9000 : 5000);
  };

  // An error from a call, shown in box (an element with role=alert) or as
  // a notice; a 401 is the login form's business, an abort nobody's.
  KM.showError = function (e, box) {
    if (e && e.name === 'AbortError') return;
    // a 401 brings the login form, which says why; only its own box shows one
    if (e instanceof KM.ApiError && e.status === 401 && !(box && box.isConnected)) return;
    const msg = e instanceof KM.ApiError ? e.message : 'Unexpected error: ' + (e && e.message ? e.message : e);
    if (box) {
      box.textContent = msg;
      box.hidden = false;
    } else {
      KM.notify(msg, 'error');
    }
  };
  KM.errorBox = () => el('p', { class: 'error', role: 'alert', hidden: true });

  // Runs an async action from a button: disabled while it runs, errors
  // shown; resolves to the action's result or undefined.
  KM.act = async function (button, box, fn) {
    if (box) box.hidden = true;
    if (button) button.disabled = true;
    try {
      return await fn();
    } catch (e) {
      KM.showError(e, box);
      return undefined;
    } finally {
      if (button && button.isConnected) button.disabled = false;
    }
  };

  // ---- the confirm dialog ----
  const dlg = document.getElementById('confirm');
  // KM.confirm({title, text, ok, danger, input: {label, value}}): resolves
  // to false (cancelled) or {value}.
  KM.confirm = function (o) {
    document.getElementById('confirm-title').textContent = o.title;
    document.getElementById('confirm-text').textContent = o.text || '';
    const ok = document.getElementById('confirm-ok');
    ok.textContent = o.ok || 'OK';
    ok.className = o.danger ? 'danger' : 'primary';
    const field = document.getElementById('confirm-field');
    const input = document.getElementById('confirm-input');
    field.hidden = !o.input;
    if (o.input) {
      document.getElementById('confirm-label').textContent = o.input.label;
      input.value = o.input.value || '';
    }
    dlg.returnValue = '';
    const back = document.activeElement;
    return new Promise((resolve) => {
      dlg.addEventListener('close', () => {
        if (back && back.isConnected) back.focus();
        resolve(dlg.returnValue === 'ok' ? { value: input.value } : false);
      }, { once: true });
      dlg.showModal();
      (o.input ? input : document.getElementById('confirm-cancel')).focus();
    });
  };

  // ---- router ----
  const view = document.getElementById('view');
  let current = null; // {key, update(route), close()}
  let loginShown = false;

  function parseHash() {
    const h = location.hash.replace(/^#/, '') || '/';
    const q = h.indexOf('?');
    const path = q < 0 ? h : h.slice(0, q);
    const parts = path.split('/').filter(Boolean).map((s) => {
      try { return decodeURIComponent(s); } catch (e) { return s; }
    });
    return { parts, query: new URLSearchParams(q < 0 ? '' : h.slice(q + 1)) };
  }

  function pick(route) {
    const p = route.parts;
    if (!p.length) return { key: 'ns-list', screen: KM.screens.namespaces };
    if (p[0] === 'audit' && p.length === 1) return { key: 'audit', screen: KM.screens.audit };
    if (p[0] === 'ns' && p.length >= 3 && p.length <= 4)
      return { key: 'ns:' + p[1] + '/' + p[2], screen: KM.screens.ns };
    return { key: 'missing', screen: notFound };
  }

  function notFound(v) {
    v.append(el('h1', { tabindex: '-1', text: 'Not found' }),
      el('p', null, 'No such page. ', el('a', { href: '#/', text: 'Back to the namespaces' })));
    return {};
  }

  function navMark(key) {
    const audit = key === 'audit';
    document.getElementById(audit ? 'nav-audit' : 'nav-ns').setAttribute('aria-current', 'page');
    document.getElementById(audit ? 'nav-ns' : 'nav-audit').removeAttribute('aria-current');
  }

  KM.route = function (force) {
    const route = parseHash();
    const { key, screen } = pick(route);
    navMark(key);
    if (loginShown) return;
    if (!force && current && current.key === key && current.update) {
      current.update(route);
      return;
    }
    if (current && current.close) current.close();
    view.replaceChildren();
    current = Object.assign({ key }, screen(view, route) || {});
    const h1 = view.querySelector('h1');
    if (h1 && !force) h1.focus({ preventScroll: true });
  };
  KM.go = (hash) => {
    if (location.hash === hash) KM.route(true);
    else location.hash = hash;
  };

  // ---- login and logout ----
  const logoutBtn = document.getElementById('logout');
  function whoShow() {
    logoutBtn.hidden = !KM.user;
    document.getElementById('who-name').textContent = KM.user;
  }

  KM.needLogin = function (why) {
    if (loginShown) return;
    loginShown = true;
    if (current && current.close) current.close();
    current = null;
    // the server no longer takes the session (or never had one)
    KM.user = '';
    whoShow();
    const name = el('input', { name: 'username', autocomplete: 'username', required: true });
    const pw = el('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const err = KM.errorBox();
    const btn = el('button', { class: 'primary', type: 'submit', text: 'Sign in' });
    const form = el('form', { class: 'card login', id: 'login-form' },
      KM.field('User name', name), KM.field('Password', pw), err, el('div', { class: 'actions' }, btn));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const ok = await KM.act(btn, err, async () => {
        await KM.login(name.value, pw.value);
        return true;
      });
      if (ok) {
        loginShown = false;
        whoShow();
        KM.route(true);
      } else {
        pw.select();
      }
    });
    view.replaceChildren(
      el('h1', { tabindex: '-1', text: 'Sign in' }),
      el('p', { class: 'muted', text: 'The server asks who you are: ' + (why || 'authentication required') + '.' }),
      form);
    name.focus();
  };

  logoutBtn.addEventListener('click', async () => {
    logoutBtn.disabled = true;
    try {
      await KM.logout();
    } catch (e) {
      // the session is forgotten here whatever the server said
    }
    logoutBtn.disabled = false;
    KM.needLogin('you logged out');
  });

  window.addEventListener('hashchange', () => KM.route(false));
  // Every call catches its errors; one that slipped through is shown too
  // (and stays in the console, where the browser test finds it).
  window.addEventListener('unhandledrejection', (ev) => KM.showError(ev.reason));
  document.addEventListener('DOMContentLoaded', async () => {
    try {
      await KM.whoami();
    } catch (e) {
      // unreachable: the first call of the route says so
    }
    whoShow();
    KM.route(false);
  });
})();
