// SPDX-License-Identifier: MIT
// A namespace's gray releases (start from the draft, promote, abandon, and
// which version an instance would get) and its release history (each
// release's diff, rollback).
'use strict';

(function () {
  const el = KM.el;

  const fmtLabels = (l) => Object.entries(l || {}).map(([k, v]) => k + '=' + v).join(', ');

  // ---- gray ----
  KM.tabs.gray = function (body, page) {
    const ns = page.ns;
    const cols = ['Gray', 'Release', 'Labels', 'IPs', 'Actions'];
    const t = KM.table(cols, { skeleton: 2, class: 'grays', caption: 'Gray releases running' });
    const err = KM.errorBox();

    // start one from the draft
    const gName = el('input', { name: 'gray', required: true, autocomplete: 'off', pattern: '[A-Za-z0-9._\\-]{1,64}' });
    const gLabels = el('input', { name: 'labels', autocomplete: 'off', placeholder: 'zone=east,canary=true' });
    const gIps = el('input', { name: 'ips', autocomplete: 'off', placeholder: '10.0.0.0/8, 192.0.2.7' });
    const gNotes = el('input', { name: 'notes', autocomplete: 'off' });
    const gErr = KM.errorBox();
    const gBtn = el('button', { type: 'submit', class: 'primary', text: 'Start gray release' });
    const start = el('form', { class: 'card grid4', id: 'gray-form', 'aria-labelledby': 'gray-h' },
      el('h2', { id: 'gray-h', text: 'Start a gray release from the draft' }),
      KM.field('Gray name', gName), KM.field('Labels', gLabels, 'every one must match'),
      KM.field('IPs or CIDRs', gIps, 'the address must be in one'), KM.field('Notes', gNotes),
      el('div', { class: 'actions' }, gBtn), gErr);
    start.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const undo = page.mine();
      const rel = await KM.act(gBtn, gErr, () => KM.api('POST', KM.nsPath(ns, '/gray'), {
        name: gName.value, labels: gLabels.value, ips: gIps.value, notes: gNotes.value,
      }));
      if (!rel) undo();
      if (rel) {
        page.mine(rel);
        KM.notify('Gray ' + gName.value + ' started with release #' + rel.id);
        gName.value = gLabels.value = gIps.value = gNotes.value = '';
        load();
      }
    });

    // which version would an instance get
    const qLabels = el('input', { name: 'plabels', autocomplete: 'off', placeholder: 'zone=east' });
    const qIp = el('input', { name: 'pip', autocomplete: 'off', placeholder: 'your address' });
    const qBtn = el('button', { type: 'submit', text: 'Check' });
    const qErr = KM.errorBox();
    const qOut = el('div', { class: 'probe-out', 'aria-live': 'polite' },
      el('p', { class: 'muted', text: 'Give an instance’s labels and address to see the release it is served.' }));
    const probe = el('form', { class: 'card grid4', id: 'probe-form', 'aria-labelledby': 'probe-h' },
      el('h2', { id: 'probe-h', text: 'Which version would an instance get?' }),
      KM.field('Labels', qLabels), KM.field('IP', qIp), el('div', { class: 'actions' }, qBtn), qErr, qOut);
    probe.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      if (qLabels.value) q.set('labels', qLabels.value);
      if (qIp.value) q.set('ip', qIp.value);
      qErr.hidden = true;
      qBtn.disabled = true;
      try {
        const cfg = await KM.api('GET', KM.nsPath(ns, '/config') + (q.toString() ? '?' + q : ''));
        // The config endpoint gives secrets in clear to those who may
        // read them; the console shows them masked all the same.
        let secret = new Set(((page.info && page.info.draft && page.info.draft.secret) || []));
        try {
          const rel = await KM.api('GET', KM.nsPath(ns, '/releases/' + cfg.release));
          secret = new Set(rel.secret || []);
        } catch (e) {
          if (e instanceof KM.ApiError && e.status === 401) throw e;
        }
        const it = KM.table(['Key', 'Value'], { skeleton: 0, caption: 'Items it gets' });
        it.fill(Object.keys(cfg.items || {}).sort().map((k) =>
          [el('code', { text: k }), KM.value(cfg.items[k], secret.has(k))]), 'No items.');
        qOut.replaceChildren(
          el('p', { class: 'verdict' }, 'It gets release ', el('strong', { text: '#' + cfg.release }),
            cfg.name ? ' “' + cfg.name + '”' : '', ', ',
            cfg.gray ? el('span', { class: 'badge gray', text: 'gray ' + cfg.gray }) : el('span', { class: 'badge main', text: 'main' })),
          it.table);
      } catch (e) {
        if (e instanceof KM.ApiError && e.status === 404)
          qOut.replaceChildren(el('p', { class: 'muted', text: 'Nothing is published yet: no instance gets anything.' }));
        else KM.showError(e, qErr);
      } finally {
        qBtn.disabled = false;
      }
    });

    // the instances following the namespace now, and the version each holds
    const inst = KM.table(['Labels', 'Address', 'Streams', 'Version'], { caption: 'Instances now', skeleton: 1 });
    inst.table.id = 'instances';
    body.append(el('h2', { text: 'Gray releases' }), err, t.table,
      el('h2', { text: 'Instances following it now' }), inst.table, start, probe);

    async function loadInstances(grays) {
      const res = await KM.api('GET', KM.nsPath(ns, '/instances'), undefined, { signal: page.signal });
      const byRel = {};
      for (const g of grays) byRel[g.release] = g.gray;
      inst.fill(((res && res.instances) || []).map((i) => ({
        key: i.labels + ' ' + i.ip,
        cells: [i.labels || '—', i.ip || '—', String(i.streams),
          i.release ? '#' + i.release + (byRel[i.release] ? ' (gray ' + byRel[i.release] + ')' : ' (main)') : '—'],
      })), 'No instance follows this namespace now.');
    }

    async function load() {
      try {
        const res = await KM.api('GET', KM.nsPath(ns, '/gray'), undefined, { signal: page.signal });
        loadInstances((res && res.gray) || []).catch((e) => { inst.fill([]); KM.showError(e, err); });
        t.fill(((res && res.gray) || []).map((g) => {
          const pro = el('button', { type: 'button', class: 'small primary', text: 'Promote', 'aria-label': 'Promote gray ' + g.gray });
          const ab = el('button', { type: 'button', class: 'small danger', text: 'Abandon', 'aria-label': 'Abandon gray ' + g.gray });
          pro.addEventListener('click', async () => {
            const ok = await KM.confirm({ title: 'Promote gray ' + g.gray + '?',
              text: 'Release #' + g.release + ' becomes the main release for every instance.',
              ok: 'Promote', input: { label: 'Notes' } });
            if (!ok) return;
            const undo = page.mine();
            page.mineGray(g.gray);
            const rel = await KM.act(pro, err, () =>
              KM.api('POST', KM.nsPath(ns, '/gray/' + encodeURIComponent(g.gray) + '/promote'), { notes: ok.value }));
            if (!rel) undo();
            if (rel) {
              page.mine(rel);
              KM.notify('Promoted ' + g.gray + ': release #' + rel.id + ' is main');
              load();
              page.load().catch((e) => KM.showError(e));
            }
          });
          ab.addEventListener('click', async () => {
            const ok = await KM.confirm({ title: 'Abandon gray ' + g.gray + '?',
              text: 'Its instances go back to the main release.', ok: 'Abandon', danger: true });
            if (!ok) return;
            page.mineGray(g.gray);
            const res2 = await KM.act(ab, err, () =>
              KM.api('DELETE', KM.nsPath(ns, '/gray/' + encodeURIComponent(g.gray))));
            if (res2 !== undefined) {
              KM.notify('Abandoned ' + g.gray);
              load();
              page.load().catch((e) => KM.showError(e));
            }
          });
          return { key: g.gray, cells: [el('strong', { text: g.gray }), '#' + g.release,
            fmtLabels(g.labels) || '—', (g.ips || []).join(', ') || '—', el('div', { class: 'rowbtns' }, pro, ab)] };
        }), 'No gray release is running.');
      } catch (e) {
        t.fill([]);
        KM.showError(e, err);
      }
    }
    load();
    return { refresh: load };
  };

  // ---- history ----
  KM.tabs.releases = function (body, page) {
    const ns = page.ns;
    const list = el('ol', { class: 'releases', reversed: true, 'aria-busy': 'true' });
    for (let i = 0; i < 3; i++) list.append(el('li', { class: 'release skel', 'aria-hidden': 'true' }, el('span', { class: 'bar' })));
    const err = KM.errorBox();
    body.append(el('h2', { text: 'Release history' }), err, list);

    function card(r, mainId, grays) {
      const head = el('div', { class: 'rhead' },
        el('strong', { class: 'rid', text: '#' + r.id }),
        el('span', { class: 'badge kind ' + r.kind, text: r.kind }),
        el('span', { class: 'rname', text: r.name || '' }),
        r.id === mainId ? el('span', { class: 'badge main', text: 'main' }) : null,
        grays.has(r.id) ? el('span', { class: 'badge gray', text: 'gray ' + grays.get(r.id) }) : null);
      const by = [r.author ? 'by ' + r.author : '', r.addr ? 'from ' + r.addr : '', KM.fmtTime(r.time)]
        .filter(Boolean).join(' · ');
      const extra = [];
      if (r.kind === 'rollback' && r.from) extra.push('restores #' + r.from);
      if (r.kind === 'promote' && r.from) extra.push('promotes #' + r.from + (r.gray ? ' (gray ' + r.gray + ')' : ''));
      if (r.kind === 'gray' && r.gray) extra.push('gray ' + r.gray);
      if (r.base) extra.push('base #' + r.base);
      const diffs = r.diff;
      const det = el('details', { class: 'rdiff' },
        el('summary', { text: diffs ? 'Diff: ' + diffs.length + ' change' + (diffs.length === 1 ? '' : 's') : 'Diff' }));
      det.addEventListener('toggle', async () => {
        if (!det.open || det.dataset.done) return;
        det.dataset.done = '1';
        // The list may leave the values out of its diffs: the release
        // itself has them.
        let d = diffs || [];
        if (d.some((x) => !('old' in x) && !('new' in x))) {
          try {
            d = (await KM.api('GET', KM.nsPath(ns, '/releases/' + r.id), undefined, { signal: page.signal })).diff || [];
          } catch (e) {
            KM.showError(e, err);
          }
        }
        det.append(KM.diffTable(d, 'Diff of release #' + r.id));
      });
      const li = el('li', { class: 'release', id: 'rel-' + r.id, 'data-id': r.id }, head,
        el('p', { class: 'muted', text: [by].concat(extra).filter(Boolean).join(' · ') }),
        r.notes ? el('p', { class: 'notes', text: r.notes }) : null, det);
      if (r.id !== mainId && r.kind !== 'gray') {
        const rb = el('button', { type: 'button', class: 'small', text: 'Roll back to #' + r.id });
        rb.addEventListener('click', async () => {
          const ok = await KM.confirm({ title: 'Roll back ' + ns + ' to release #' + r.id + '?',
            text: 'This publishes a new release with the items of #' + r.id + ' (“' + (r.name || '') + '”) to every instance not in a gray release.',
            ok: 'Roll back', danger: true });
          if (!ok) return;
          const undo = page.mine();
          const rel = await KM.act(rb, err, () => KM.api('POST', KM.nsPath(ns, '/rollback'), { to: r.id }));
          if (!rel) undo();
          if (rel) {
            page.mine(rel);
            KM.notify('Rolled back: release #' + rel.id + ' restores #' + r.id);
            load();
          }
        });
        li.append(el('div', { class: 'actions' }, rb));
      }
      return li;
    }

    async function load() {
      try {
        const [info, res, gray] = await Promise.all([
          page.load(),
          KM.api('GET', KM.nsPath(ns, '/releases'), undefined, { signal: page.signal }),
          KM.api('GET', KM.nsPath(ns, '/gray'), undefined, { signal: page.signal }),
        ]);
        const grays = new Map(((gray && gray.gray) || []).map((g) => [g.release, g.gray]));
        const rels = (res && res.releases) || [];
        // A live refresh keeps the diffs someone opened open.
        const open = new Set([...list.querySelectorAll('details[open]')].map((d) => d.closest('li').dataset.id));
        list.removeAttribute('aria-busy');
        list.replaceChildren(...rels.map((r) => card(r, info.main, grays)));
        for (const d of list.querySelectorAll('details'))
          if (open.has(d.closest('li').dataset.id)) d.open = true;
        if (!rels.length) list.append(el('li', { class: 'empty-state', text: 'Nothing published yet.' }));
      } catch (e) {
        list.removeAttribute('aria-busy');
        KM.showError(e, err);
      }
    }
    load();
    return { refresh: load };
  };
})();
