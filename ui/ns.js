// SPDX-License-Identifier: MIT
// Namespaces: the list by app with the create form, and a namespace's page
// (its header, tabs and live updates) with the draft's items and the
// publish tab (the diff, then publish).
'use strict';

(function () {
  const el = KM.el;
  const NAME_RE = '[A-Za-z0-9._\\-]{1,64}';
  KM.tabs = KM.tabs || {};

  // ---- the list ----
  KM.screens.namespaces = function (view, route) {
    const ctl = new AbortController();
    const app = route.query.get('app') || '';

    const cApp = el('input', { name: 'app', required: true, pattern: NAME_RE, autocomplete: 'off', value: app });
    const cName = el('input', { name: 'name', required: true, pattern: NAME_RE, autocomplete: 'off' });
    const cFormat = el('select', { name: 'format' },
      ['json', 'yaml', 'properties', 'text'].map((f) => el('option', { value: f, text: f })));
    const cErr = KM.errorBox();
    const cBtn = el('button', { type: 'submit', class: 'primary', text: 'Create' });
    const create = el('form', { class: 'card grid4', id: 'create-ns', 'aria-labelledby': 'create-h' },
      el('h2', { id: 'create-h', text: 'New namespace' }),
      KM.field('App', cApp, 'letters, digits, . _ -'), KM.field('Name', cName),
      KM.field('Format', cFormat), el('div', { class: 'actions' }, cBtn), cErr);
    create.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const ns = cApp.value + '/' + cName.value;
      const res = await KM.act(cBtn, cErr, () =>
        KM.api('POST', KM.nsPath(ns), { format: cFormat.value }));
      if (res) {
        KM.notify('Created ' + ns);
        KM.go('#/ns/' + encodeURIComponent(cApp.value) + '/' + encodeURIComponent(cName.value));
      }
    });

    const fApp = el('input', { name: 'app', type: 'search', value: app, autocomplete: 'off' });
    const filter = el('form', { class: 'filter', role: 'search' },
      KM.field('Show the app', fApp), el('button', { type: 'submit', text: 'Filter' }));
    filter.addEventListener('submit', (ev) => {
      ev.preventDefault();
      KM.go(fApp.value ? '#/?app=' + encodeURIComponent(fApp.value) : '#/');
    });

    const list = el('div', { class: 'nslist' });
    const err = KM.errorBox();
    const sk = KM.table(['Namespace', 'Format', 'Main', 'Last', 'Gray']);
    list.append(sk.table);
    view.append(el('h1', { tabindex: '-1', text: 'Namespaces' }), create, filter, err, list);

    (async () => {
      try {
        const q = app ? '?app=' + encodeURIComponent(app) : '';
        const res = await KM.api('GET', '/api/v1/ns' + q, undefined, { signal: ctl.signal });
        const byApp = new Map();
        for (const n of (res && res.namespaces) || []) {
          const a = n.ns.split('/')[0];
          if (!byApp.has(a)) byApp.set(a, []);
          byApp.get(a).push(n);
        }
        list.replaceChildren();
        if (!byApp.size) {
          list.append(el('p', { class: 'empty-state', text: app ? 'No namespaces in ' + app + '.' : 'No namespaces yet: create one above.' }));
          return;
        }
        for (const [a, items] of byApp) {
          const t = KM.table(['Namespace', 'Format', 'Main', 'Last', 'Gray'], { skeleton: 0, caption: 'Namespaces of ' + a });
          t.fill(items.map((n) => [
            el('a', { href: '#/ns/' + n.ns.split('/').map(encodeURIComponent).join('/'), text: n.ns }),
            n.format, n.main ? '#' + n.main : '—', n.last ? '#' + n.last : '—',
            (n.gray || []).join(', ') || '—',
          ]));
          list.append(el('section', { class: 'app' }, el('h2', { text: a }), t.table));
        }
      } catch (e) {
        list.replaceChildren();
        KM.showError(e, err);
      }
    })();
    return { close: () => ctl.abort() };
  };

  // ---- a namespace's page ----
  const TABS = [['items', 'Items'], ['publish', 'Publish'], ['gray', 'Gray'], ['releases', 'Releases']];

  KM.screens.ns = function (view, route) {
    const [, app, name] = route.parts;
    const ns = app + '/' + name;
    const base = '#/ns/' + encodeURIComponent(app) + '/' + encodeURIComponent(name);
    const ctl = new AbortController();
    const page = { ns, base, info: null, signal: ctl.signal };

    const fmt = el('span', { class: 'badge', text: '…' });
    const mainEl = el('span', { text: 'main —' });
    const lastEl = el('span', { text: 'last —' });
    const grayEl = el('span', { text: 'gray —' });
    const live = el('span', { class: 'live off', text: 'connecting…', title: 'Changes published by anyone show here at once' });
    const tabLinks = {};
    const nav = el('nav', { class: 'tabs', 'aria-label': 'Namespace' },
      TABS.map(([id, label]) => (tabLinks[id] = el('a', { href: base + '/' + id, id: 'tab-' + id, text: label }))),
      el('a', { href: '#/audit?ns=' + encodeURIComponent(ns), text: 'Audit' }));
    const body = el('div', { class: 'tabbody' });
    view.append(
      el('p', { class: 'crumbs' }, el('a', { href: '#/?app=' + encodeURIComponent(app), text: app }), ' / '),
      el('div', { class: 'nshead' }, el('h1', { tabindex: '-1', text: ns }), fmt, live),
      el('p', { class: 'meta' }, mainEl, lastEl, grayEl),
      nav, body);

    // The namespace itself (GET .../NAME): header and draft.
    page.setInfo = function (info) {
      page.info = info;
      fmt.textContent = info.format;
      mainEl.textContent = 'main ' + (info.main ? '#' + info.main : '—');
      lastEl.textContent = 'last ' + (info.last ? '#' + info.last : '—');
      grayEl.textContent = 'gray ' + ((info.gray || []).join(', ') || '—');
    };
    // Callers at the same moment (a tab and the live stream) share one call.
    let loading = null;
    page.load = function () {
      loading = loading || KM.api('GET', KM.nsPath(ns), undefined, { signal: ctl.signal })
        .then((info) => { page.setInfo(info); return info; })
        .finally(() => { loading = null; });
      return loading;
    };
    // Changes made here, which the live stream does not announce as
    // someone else's: releases by id (the next one is expected before the
    // answer comes, as the stream may be faster), grays by name.
    const own = new Set();
    const ownGrays = new Set();
    page.mine = (rel) => {
      if (rel && rel.id) {
        own.add(rel.id);
        return () => {};
      }
      const next = ((page.info && page.info.last) || 0) + 1;
      const had = own.has(next);
      own.add(next);
      return () => { if (!had) own.delete(next); }; // for a change that failed
    };
    page.mineGray = (g) => ownGrays.add(g);

    let tab = null;
    let tabId = '';
    function show(id) {
      if (!TABS.some(([t]) => t === id)) id = 'items';
      if (id === tabId) return;
      if (tab && tab.close) tab.close();
      tabId = id;
      for (const [t] of TABS) {
        if (t === id) tabLinks[t].setAttribute('aria-current', 'page');
        else tabLinks[t].removeAttribute('aria-current');
      }
      body.replaceChildren();
      tab = KM.tabs[id](body, page) || {};
      document.title = ns + ' · ' + id + ' · kumo';
    }
    show(route.parts[3] || 'items');
    page.load().catch((e) => KM.showError(e));

    // Live: the published views under /kumo/pub/APP/NAME/ (main and each
    // gray), whoever changes them.
    let timer = 0;
    let pending = [];
    let wasLive = false;
    function refresh() {
      const news = pending.filter((n) => (n.gray && !n.release ? !ownGrays.has(n.gray) : !own.has(n.release)));
      pending = [];
      // One notice: the main release's news first (a promote also ends a gray).
      const n = news.find((x) => !x.gray) || news[news.length - 1];
      if (n)
        KM.notify(!n.gray ? 'Release #' + n.release + (n.name ? ' “' + n.name + '”' : '') + ' is now live in ' + ns
          : n.release ? 'Gray ' + n.gray + ' now serves release #' + n.release : 'Gray ' + n.gray + ' ended');
      page.load().catch((e) => KM.showError(e));
      if (tab && tab.refresh) tab.refresh();
    }
    function onEvent(ev) {
      if (ev.type !== 'put' && ev.type !== 'delete') {
        if (ev.type === 'compacted') refresh();
        return;
      }
      let d = {};
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      const prefix = '/kumo/pub/' + ns + '/';
      const what = String(d.key || '').startsWith(prefix) ? d.key.slice(prefix.length) : '';
      let v = {};
      try { v = d.value ? JSON.parse(d.value) : {}; } catch (e) { v = {}; }
      if (what === 'main' && ev.type === 'put') pending.push({ release: v.release, name: v.name });
      else if (what.startsWith('gray/'))
        pending.push({ gray: what.slice(5), release: ev.type === 'put' ? v.release : 0 });
      clearTimeout(timer);
      timer = setTimeout(refresh, 150);
    }
    const watch = KM.sse('/api/v1/watch?prefix=' + encodeURIComponent('/kumo/pub/' + ns + '/'), onEvent, (s) => {
      live.className = 'live ' + (s === 'live' ? 'on' : 'off');
      live.textContent = s === 'live' ? 'live' : s === 'retry' ? 'reconnecting…' : 'not live';
      // What happened while the stream was down is fetched again.
      if (s === 'live' && wasLive) refresh();
      if (s === 'live') wasLive = true;
    });

    return {
      update: (r) => show(r.parts[3] || 'items'),
      close() {
        clearTimeout(timer);
        watch.close();
        ctl.abort();
        if (tab && tab.close) tab.close();
      },
    };
  };

  // A line saying whether the draft is valid and how far it is from main,
  // always there so that it never pushes the page down.
  function draftState(d) {
    const p = el('p', { class: 'state', role: 'status' });
    const set = (diff) => {
      p.replaceChildren();
      p.className = 'state';
      if (!diff) {
        p.textContent = 'Checking the draft…';
        return;
      }
      if (diff.valid === false) {
        p.className = 'state bad';
        p.append(el('strong', { text: 'The draft is not valid: ' }), diff.error || 'invalid');
        return;
      }
      const n = (diff.diff || []).length;
      p.className = 'state ' + (n ? 'pending' : 'ok');
      p.textContent = n ? n + ' unpublished change' + (n > 1 ? 's' : '') + (diff.base ? ' since release #' + diff.base : '')
        : diff.base ? 'The draft equals release #' + diff.base + ' (main).' : 'Nothing published yet; the draft is empty.';
    };
    set(d);
    return { p, set };
  }
  KM.draftState = draftState;

  // ---- items (the draft) ----
  KM.tabs.items = function (body, page) {
    const ns = page.ns;
    const itemPath = (k) => KM.nsPath(ns, '/items/' + encodeURIComponent(k));
    let secrets = new Set();
    let items = {};
    let editing = 0;
    let loading = null;

    const st = draftState(null);
    const aKey = el('input', { name: 'key', required: true, maxlength: 256, autocomplete: 'off' });
    const aVal = el('textarea', { name: 'value', rows: 2, spellcheck: 'false' });
    const aSec = el('input', { type: 'checkbox', name: 'secret', id: KM.uid('sec') });
    const aErr = KM.errorBox();
    const aBtn = el('button', { type: 'submit', class: 'primary', text: 'Add item' });
    const add = el('form', { class: 'card additem', id: 'add-item', 'aria-labelledby': 'add-h' },
      el('h2', { id: 'add-h', text: 'Add an item' }),
      KM.field('Key', aKey), KM.field('Value', aVal),
      el('div', { class: 'check' }, aSec, el('label', { for: aSec.id, text: 'Secret (stored encrypted, shown masked)' })),
      el('div', { class: 'actions' }, aBtn), aErr);
    add.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const k = aKey.value;
      if (Object.prototype.hasOwnProperty.call(items, k)) {
        aErr.textContent = '“' + k + '” exists already: use its Edit button in the table.';
        aErr.hidden = false;
        return;
      }
      const res = await KM.act(aBtn, aErr, () =>
        KM.api('PUT', itemPath(k) + (aSec.checked ? '?secret' : ''), aVal.value));
      if (res) {
        KM.notify('Added ' + k);
        aKey.value = '';
        aVal.value = '';
        aSec.checked = false;
        await load();
        aKey.focus();
      }
    });

    const cols = ['Key', 'Value', 'Secret', 'State', 'Actions'];
    const t = KM.table(cols, { class: 'items', caption: 'Items of the draft' });
    const err = KM.errorBox();
    body.append(st.p, err, el('h2', { class: 'sr', text: 'Items' }), t.table, add);

    function viewRow(k, op) {
      const secret = secrets.has(k);
      const edit = el('button', { type: 'button', class: 'small', text: 'Edit', 'aria-label': 'Edit ' + k });
      const del = el('button', { type: 'button', class: 'small danger', text: 'Delete', 'aria-label': 'Delete ' + k });
      const tr = KM.row(cols, {
        key: k,
        cells: [el('code', { class: 'key', text: k }), KM.value(items[k], secret), secret ? 'secret' : '',
          op ? el('span', { class: 'badge op ' + op, text: op }) : '',
          el('div', { class: 'rowbtns' }, edit, del)],
      });
      edit.addEventListener('click', () => tr.replaceWith(editRow(k, op)));
      del.addEventListener('click', async () => {
        const ok = await KM.confirm({ title: 'Delete ' + k + '?', text: 'The item leaves the draft; the published releases keep it until you publish.', ok: 'Delete', danger: true });
        if (!ok) return;
        const res = await KM.act(del, err, () => KM.api('DELETE', itemPath(k)));
        if (res !== undefined) {
          KM.notify('Deleted ' + k);
          load();
        }
      });
      return tr;
    }

    function editRow(k, op) {
      editing++;
      const secret = secrets.has(k);
      const val = el('textarea', { rows: 3, spellcheck: 'false', value: secret ? '' : items[k],
        placeholder: secret ? 'a new value (secrets cannot be read back)' : null });
      const sec = el('input', { type: 'checkbox', checked: secret });
      const e = KM.errorBox();
      const save = el('button', { type: 'button', class: 'small primary', text: 'Save' });
      const cancel = el('button', { type: 'button', class: 'small', text: 'Cancel' });
      val.id = KM.uid('val');
      sec.id = KM.uid('sec');
      const tr = KM.row(cols, {
        key: k,
        class: 'editing',
        cells: [el('code', { class: 'key', text: k }),
          el('div', null, el('label', { class: 'sr', for: val.id, text: 'Value of ' + k }), val, e),
          el('div', { class: 'check' }, sec, el('label', { for: sec.id, text: 'secret' })),
          op ? el('span', { class: 'badge op ' + op, text: op }) : '',
          el('div', { class: 'rowbtns' }, save, cancel)],
      });
      const done = (reload) => {
        editing--;
        const back = viewRow(k, op);
        tr.replaceWith(back);
        back.querySelector('button').focus();
        if (reload) load();
      };
      cancel.addEventListener('click', () => done(false));
      tr.addEventListener('keydown', (ev) => {
        if (ev.key === 'Escape') done(false);
        if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) save.click();
      });
      save.addEventListener('click', async () => {
        if (secret && val.value === '') {
          e.textContent = 'Enter the new value: a secret value cannot be read back to keep it.';
          e.hidden = false;
          val.focus();
          return;
        }
        const res = await KM.act(save, e, () =>
          KM.api('PUT', itemPath(k) + (sec.checked ? '?secret' : ''), val.value));
        if (res) {
          KM.notify('Saved ' + k);
          done(true);
        }
      });
      setTimeout(() => val.focus(), 0);
      return tr;
    }

    async function load() {
      if (loading) return loading;
      loading = (async () => {
        try {
          const [info, diff] = await Promise.all([
            page.load(),
            KM.api('GET', KM.nsPath(ns, '/diff'), undefined, { signal: page.signal }),
          ]);
          st.set(diff);
          if (editing) return; // a reload would throw away what is being typed
          items = (info.draft && info.draft.items) || {};
          secrets = new Set((info.draft && info.draft.secret) || []);
          const ops = new Map((diff.diff || []).map((d) => [d.key, d]));
          const keys = Object.keys(items).sort();
          t.fill([]);
          for (const k of keys) t.tbody.append(viewRow(k, ops.has(k) ? ops.get(k).op : ''));
          for (const [k, d] of ops)
            if (d.op === 'delete')
              t.tbody.append(KM.row(cols, { key: k, class: 'gone', cells: [el('code', { class: 'key', text: k }),
                KM.value(d.old), '', el('span', { class: 'badge op delete', text: 'delete' }), ''] }));
          if (!t.tbody.children.length)
            t.tbody.append(el('tr', { class: 'empty' }, el('td', { colspan: cols.length, text: 'The draft has no items yet: add one below.' })));
        } catch (e) {
          KM.showError(e, err);
        } finally {
          loading = null;
        }
      })();
      return loading;
    }
    load();
    return { refresh: load };
  };

  // ---- publish: the diff, then name and notes ----
  KM.tabs.publish = function (body, page) {
    const ns = page.ns;
    const st = draftState(null);
    const diffBox = el('div', { class: 'diffbox' }, KM.table(['Key', 'Change', 'Old', 'New']).table);
    const pName = el('input', { name: 'name', required: true, autocomplete: 'off', maxlength: 200 });
    const pNotes = el('textarea', { name: 'notes', rows: 3 });
    const pErr = KM.errorBox();
    const pBtn = el('button', { type: 'submit', class: 'primary', text: 'Publish', disabled: true });
    const form = el('form', { class: 'card', id: 'publish-form', 'aria-labelledby': 'pub-h' },
      el('h2', { id: 'pub-h', text: 'Publish the draft' }),
      KM.field('Release name', pName, 'required, e.g. a version or ticket'), KM.field('Notes', pNotes),
      el('div', { class: 'actions' }, pBtn,
        el('a', { href: page.base + '/gray', class: 'button', text: 'Start a gray release instead' })), pErr);
    const err = KM.errorBox();
    body.append(el('h2', { text: 'Changes to publish' }), st.p, err, diffBox, form);

    let canPublish = false;
    async function load() {
      try {
        const diff = await KM.api('GET', KM.nsPath(ns, '/diff'), undefined, { signal: page.signal });
        st.set(diff);
        diffBox.replaceChildren(KM.diffTable(diff.diff,
          diff.base ? 'Draft against release #' + diff.base : 'Draft against nothing published'));
        canPublish = diff.valid !== false && (diff.diff || []).length > 0;
        pBtn.disabled = !canPublish;
      } catch (e) {
        KM.showError(e, err);
      }
    }
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const undo = page.mine();
      const rel = await KM.act(pBtn, pErr, () =>
        KM.api('POST', KM.nsPath(ns, '/publish'), { name: pName.value, notes: pNotes.value }));
      if (!rel) undo();
      if (rel) {
        page.mine(rel);
        KM.notify('Published release #' + rel.id + ' “' + rel.name + '”');
        KM.go(page.base + '/releases');
      } else {
        pBtn.disabled = !canPublish;
      }
    });
    load();
    return { refresh: load };
  };
})();
