// SPDX-License-Identifier: MIT
// The audit log (GET /api/v1/audit), filtered by namespace, user and time;
// the filters live in the address (#/audit?ns=APP/NAME&user=U&since=...),
// so a filtered view can be linked to and reloaded.
'use strict';

(function () {
  const el = KM.el;
  const KNOWN = new Set(['time', 'user', 'addr', 'action', 'ns']);

  // A datetime-local value ("2026-12-07T21:30", local time) as ns since
  // the epoch, exact as a decimal string; '' if it is not one.
  function toNs(local) {
    const ms = new Date(local).getTime();
    return isNaN(ms) ? '' : (BigInt(ms) * 1000000n).toString();
  }

  // A record's other fields as people write them: labels as k=v, lists
  // comma-separated.
  function detail(v) {
    if (Array.isArray(v)) return v.map(detail).join(',');
    if (v && typeof v === 'object') return Object.entries(v).map(([k, x]) => k + '=' + detail(x)).join(',');
    return String(v);
  }

  KM.screens.audit = function (view, route) {
    const ctl = new AbortController();
    let gen = 0;

    const fNs = el('input', { name: 'ns', autocomplete: 'off', placeholder: 'APP/NAME', list: 'audit-ns' });
    const fUser = el('input', { name: 'user', autocomplete: 'off' });
    const fSince = el('input', { name: 'since', type: 'datetime-local', step: 1 });
    const fLimit = el('select', { name: 'limit' }, ['100', '300', '1000'].map((n) => el('option', { value: n, text: n })));
    const dl = el('datalist', { id: 'audit-ns' });
    const apply = el('button', { type: 'submit', class: 'primary', text: 'Apply' });
    const clear = el('a', { href: '#/audit', class: 'button', text: 'Clear' });
    const form = el('form', { class: 'card grid4', id: 'audit-form', role: 'search', 'aria-label': 'Audit filters' },
      KM.field('Namespace', fNs), KM.field('User', fUser), KM.field('Since', fSince), KM.field('At most', fLimit),
      el('div', { class: 'actions' }, apply, clear), dl);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      if (fNs.value) q.set('ns', fNs.value);
      if (fUser.value) q.set('user', fUser.value);
      if (fSince.value) q.set('since', fSince.value);
      if (fLimit.value !== '100') q.set('limit', fLimit.value);
      KM.go('#/audit' + (q.toString() ? '?' + q : ''));
    });

    const cols = ['Time', 'User', 'Address', 'Action', 'Namespace', 'Details'];
    const t = KM.table(cols, { skeleton: 5, class: 'audit', caption: 'Audit records, newest first' });
    const err = KM.errorBox();
    const count = el('p', { class: 'state', role: 'status', text: 'Loading…' });
    view.append(el('h1', { tabindex: '-1', text: 'Audit log' }), form, err, count, t.table);
    document.title = 'Audit · kumo';

    // the namespaces for the filter's suggestions
    KM.api('GET', '/api/v1/ns', undefined, { signal: ctl.signal }).then((res) => {
      dl.replaceChildren(...((res && res.namespaces) || []).map((n) => el('option', { value: n.ns })));
    }, () => {});

    async function load(route) {
      const my = ++gen;
      const p = route.query;
      fNs.value = p.get('ns') || '';
      fUser.value = p.get('user') || '';
      fSince.value = p.get('since') || '';
      fLimit.value = p.get('limit') || '100';
      const q = new URLSearchParams();
      if (fNs.value) q.set('ns', fNs.value);
      if (fUser.value) q.set('user', fUser.value);
      if (fSince.value && toNs(fSince.value)) q.set('since', toNs(fSince.value));
      q.set('limit', fLimit.value);
      err.hidden = true;
      t.skeleton(5);
      count.textContent = 'Loading…';
      try {
        const res = await KM.api('GET', '/api/v1/audit?' + q, undefined, { signal: ctl.signal });
        if (my !== gen) return;
        const recs = (res && res.records) || [];
        count.textContent = recs.length + ' record' + (recs.length === 1 ? '' : 's') +
          (recs.length >= Number(fLimit.value) ? ' (the newest ' + fLimit.value + ')' : '');
        t.fill(recs.map((r) => [
          el('time', { text: KM.fmtTime(r.time) }), r.user || '—', r.addr || '', el('span', { class: 'badge act', text: r.action || '' }),
          r.ns ? el('a', { href: '#/ns/' + String(r.ns).split('/').map(encodeURIComponent).join('/'), text: r.ns }) : '',
          Object.entries(r).filter(([k]) => !KNOWN.has(k)).map(([k, v]) => k + '=' + detail(v)).join(' '),
        ]), 'No records match.');
      } catch (e) {
        if (my !== gen) return;
        t.fill([]);
        count.textContent = '';
        KM.showError(e, err);
      }
    }

    load(route);
    return { update: load, close: () => ctl.abort() };
  };
})();
