// lbpilot rebalancer page: polls GET /api/v1/state and keeps the
// server-rendered page current, rebuilding only the backends and rows that
// changed. Every value from the API goes into the DOM as text (textContent,
// setAttribute), never as markup. The builders below produce the same
// markup as page.html; the browser test checks that they do.
'use strict';
(function () {
  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.content : '';
  }
  var csrf = meta('csrf-token');
  var refreshMS = parseInt(meta('lbpilot-refresh-ms'), 10) || 2000;
  var expandAll = parseInt(meta('lbpilot-expand-all'), 10) || 200;
  var historyLimit = parseInt(meta('lbpilot-history-limit'), 10) || 50;
  var servedHash = meta('lbpilot-state-hash');

  // stats are read by the browser test and the benchmark.
  var stats = { polls: 0, liveMS: 0, adopted: false, errors: 0, fetchMS: 0, parseMS: 0, renderMS: 0, totalMS: 0, rowsBuilt: 0, backendsUpdated: 0, lastError: '' };
  var current = null;   // last state seen
  var userOpen = {};    // backend -> open/closed as the operator chose
  var filter = '';      // lower-case text of the filter box
  var sigs = { proposals: '', alerts: '', history: '', pause: '', status: '' };
  var timer = null;

  function $(id) { return document.getElementById(id); }

  // el builds an element; children are nodes or strings (text nodes).
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (attrs[k] === null || attrs[k] === undefined) continue;
        if (k === 'class') e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      if (Array.isArray(c)) { c.forEach(function (x) { if (x !== null && x !== undefined) e.append(x); }); } else e.append(c);
    }
    return e;
  }

  // ts writes a time like page.html's ts: UTC to the second.
  function ts(s) {
    if (!s || s.indexOf('0001-01-01') === 0) return '';
    var d = new Date(s);
    if (isNaN(d.getTime())) return String(s);
    return d.toISOString().slice(0, 19).replace('T', ' ') + 'Z';
  }
  function owner(o) { return o ? o : 'nobody'; }
  function weight(w) { return (w === null || w === undefined) ? '' : String(w); }

  function alertName(alerts, fp) {
    var a = alerts[fp];
    if (a && a.labels && a.labels.alertname) return a.labels.alertname;
    return fp;
  }

  function notes(s) {
    var out = [];
    var h = s.hold;
    if (h) {
      var n = 'hold ' + h.action;
      if (h.weight !== null && h.weight !== undefined) n += ' ' + h.weight;
      n += ' by ' + (h.author || '');
      if (h.reason) n += ': ' + h.reason;
      if (ts(h.expires)) n += ' (until ' + ts(h.expires) + ')';
      if (h.forced) n += ' [forced]';
      out.push(n);
    }
    if (s.deferred) out.push('deferred: ' + s.deferred);
    var p = s.maint_progress;
    if (p) {
      var m = 'draining for maint: ' + (p.sessions || 0) + ' sessions';
      if (ts(p.deadline)) m += ', maint at ' + ts(p.deadline) + ' at the latest';
      out.push(m);
    }
    return out;
  }

  function pauseText(p) {
    var n = 'paused by ' + (p.author || '') + ' since ' + ts(p.since);
    if (ts(p.expires)) n += ' until ' + ts(p.expires);
    if (p.reason) n += ': ' + p.reason;
    if (p.restores) n += ' (restores continue)';
    return n;
  }

  function labelsText(l) {
    return Object.keys(l || {}).sort().map(function (k) { return k + '=' + JSON.stringify(l[k]); }).join(' ');
  }

  function summary(servers, paused, proposals) {
    var states = {}, owned = 0, deferred = 0;
    servers.forEach(function (s) {
      states[s.haproxy_state] = (states[s.haproxy_state] || 0) + 1;
      if (s.owner) owned++;
      if (s.deferred) deferred++;
    });
    var out = [servers.length + ' servers'];
    Object.keys(states).sort().forEach(function (k) { out.push(states[k] + ' ' + k); });
    if (owned) out.push(owned + ' owned');
    if (deferred) out.push(deferred + ' deferred');
    if (proposals) out.push(proposals + ' proposed');
    if (paused) out.push('paused');
    return out;
  }

  function needsAttention(servers) {
    return servers.some(function (s) {
      return s.haproxy_state !== 'READY' || s.owner || (s.alerts && s.alerts.length) || s.deferred || s.hold || s.maint_progress;
    });
  }

  function serverMatches(s) { return s.server.toLowerCase().indexOf(filter) >= 0; }

  function cmp(a, b) { return a < b ? -1 : (a > b ? 1 : 0); }

  // group sorts the servers like the page does and splits them by backend.
  function group(st) {
    var servers = (st.servers || []).slice();
    servers.sort(function (a, b) {
      return cmp(a.backend, b.backend) || cmp(a.server, b.server) || cmp(a.socket, b.socket);
    });
    var proposed = {};
    (st.proposals || []).forEach(function (p) { proposed[p.backend] = (proposed[p.backend] || 0) + 1; });
    var pauses = (st.paused && st.paused.backends) || {};
    var out = [];
    for (var i = 0; i < servers.length;) {
      var j = i;
      while (j < servers.length && servers[j].backend === servers[i].backend) j++;
      var name = servers[i].backend, srv = servers.slice(i, j);
      var pause = pauses[name] || null;
      var nameHit = !!filter && name.toLowerCase().indexOf(filter) >= 0;
      var serverHit = !!filter && srv.some(serverMatches);
      out.push({
        name: name, servers: srv, pause: pause, proposals: proposed[name] || 0,
        auto: servers.length <= expandAll || !!pause || (proposed[name] || 0) > 0 || needsAttention(srv),
        shown: !filter || nameHit || serverHit, nameHit: nameHit, serverHit: serverHit
      });
      i = j;
    }
    return out;
  }

  // ---- builders (the same markup as page.html) ----

  function statusNodes(st) {
    var t = st.last_reconcile && ts(st.last_reconcile) ? 'last reconcile ' + ts(st.last_reconcile) + ' ' + (st.last_reconcile_success ? 'ok' : 'failed') : 'no reconcile yet';
    if (st.dry_run) t += ' · dry run: nothing is changed';
    var socks = st.sockets || {};
    Object.keys(socks).sort().forEach(function (n) {
      if (!socks[n].up) t += ' · socket ' + n + ' down' + (socks[n].error ? ': ' + socks[n].error : '');
    });
    return [t];
  }

  function pauseNodes(p) {
    if (p) return [el('span', { class: 'paused' }, pauseText(p)), ' ', el('button', { type: 'button', 'data-act': 'resume' }, 'resume')];
    return [el('span', { class: 'running' }, 'running: alerts are applied'), ' ', el('button', { type: 'button', 'data-act': 'pause' }, 'pause')];
  }

  function bePauseNodes(g) {
    if (g.pause) return [el('span', { class: 'paused' }, pauseText(g.pause)), ' ', el('button', { type: 'button', 'data-act': 'resume', 'data-backend': g.name }, 'resume backend')];
    return [el('button', { type: 'button', 'data-act': 'pause', 'data-backend': g.name }, 'pause backend')];
  }

  function alertSpans(alerts, fps) {
    return (fps || []).map(function (fp) { return el('span', { class: 'alert', title: fp }, alertName(alerts, fp)); });
  }

  function buildRow(s, alerts) {
    stats.rowsBuilt++;
    var acts = [
      el('button', { type: 'button', 'data-act': 'drain' }, 'drain'),
      el('button', { type: 'button', 'data-act': 'ready' }, 'ready'),
      el('button', { type: 'button', 'data-act': 'maint' }, 'maint'),
      el('button', { type: 'button', 'data-act': 'weight' }, 'weight')
    ];
    if (s.owner === 'operator') acts.push(el('button', { type: 'button', 'data-act': 'release' }, 'release'));
    return el('tr', { 'data-key': s.socket + '|' + s.backend + '|' + s.server, 'data-backend': s.backend, 'data-server': s.server },
      el('td', { class: 'srv' }, s.server),
      el('td', null, s.socket),
      el('td', null, el('span', { class: 'state st-' + s.haproxy_state }, s.haproxy_state)),
      el('td', { class: 'num' }, String(s.weight)),
      el('td', { class: 'owner-' + owner(s.owner) }, owner(s.owner)),
      el('td', null, alertSpans(alerts, s.alerts)),
      el('td', { class: 'notes' }, notes(s).map(function (n) { return el('div', null, n); })),
      el('td', { class: 'acts' }, acts));
  }

  function rowSig(s, alerts) {
    return JSON.stringify(s) + '\u0000' + (s.alerts || []).map(function (fp) { return alertName(alerts, fp); }).join('\u0000');
  }

  function fillRows(tbody, servers, alerts, force) {
    var old = {};
    for (var r = tbody.firstElementChild; r; r = r.nextElementSibling) old[r.getAttribute('data-key')] = r;
    var prev = null;
    servers.forEach(function (s) {
      var key = s.socket + '|' + s.backend + '|' + s.server;
      var sig = rowSig(s, alerts);
      var row = old[key];
      delete old[key];
      if (!row || force || row._sig !== sig) {
        var fresh = buildRow(s, alerts);
        if (row) row.replaceWith(fresh);
        row = fresh;
      }
      row._sig = sig;
      var want = prev ? prev.nextElementSibling : tbody.firstElementChild;
      if (want !== row) tbody.insertBefore(row, want);
      prev = row;
    });
    Object.keys(old).forEach(function (k) { old[k].remove(); });
  }

  // A backend is rendered closed as its summary only; its pause switch and
  // rows are built when it is open.
  function buildBackend(g) {
    return el('details', { class: 'backend', 'data-backend': g.name, 'data-filled': '0' },
      el('summary', null, el('span', { class: 'be-name' }, g.name), el('span', { class: 'be-sum' })));
  }

  function fillBackend(d, g, alerts, force) {
    if (!d.querySelector(':scope > table')) {
      d.append(el('div', { class: 'be-pause' }),
        el('table', { class: 'servers' },
          el('thead', null, el('tr', null, ['server', 'socket', 'state', 'weight', 'owner', 'alerts', 'notes', ''].map(function (h) { return el('th', null, h); }))),
          el('tbody')));
    }
    replace(d.querySelector(':scope > .be-pause'), bePauseNodes(g));
    var tbody = d.querySelector('tbody');
    fillRows(tbody, g.servers, alerts, force);
    d.setAttribute('data-filled', '1');
    // Found by a server's name: only the servers that match.
    var only = g.serverHit && !g.nameHit;
    for (var r = tbody.firstElementChild; r; r = r.nextElementSibling) {
      r.hidden = only && r.getAttribute('data-server').toLowerCase().indexOf(filter) < 0;
    }
  }

  function emptyBackend(d) {
    Array.prototype.forEach.call(d.querySelectorAll(':scope > .be-pause, :scope > table'), function (n) { n.remove(); });
    d.setAttribute('data-filled', '0');
  }

  function updateBackend(d, g, alerts, force) {
    stats.backendsUpdated++;
    replace(d.querySelector('.be-sum'), summary(g.servers, !!g.pause, g.proposals).map(function (t) { return el('span', { class: 'badge' }, t); }));
    // A server found by the filter is shown: its backend opens.
    var open = g.serverHit || (Object.prototype.hasOwnProperty.call(userOpen, g.name) ? userOpen[g.name] : g.auto);
    if (d.open !== open) d.open = open;
    if (open) fillBackend(d, g, alerts, force);
    else if (d.getAttribute('data-filled') !== '0') emptyBackend(d);
  }

  // adoptRows takes a server-rendered backend as it is, recording what it
  // shows so that the next polls compare against it.
  function adoptRows(d, g, alerts) {
    if (d.getAttribute('data-filled') !== '1') return;
    var byKey = {};
    g.servers.forEach(function (s) { byKey[s.socket + '|' + s.backend + '|' + s.server] = s; });
    for (var r = d.querySelector('tbody').firstElementChild; r; r = r.nextElementSibling) {
      var s = byKey[r.getAttribute('data-key')];
      if (s) r._sig = rowSig(s, alerts);
    }
  }

  function renderBackends(st, alerts, force, adopt) {
    var box = $('backends');
    var groups = group(st);
    var old = {};
    Array.prototype.forEach.call(box.querySelectorAll(':scope > details.backend'), function (d) { old[d.getAttribute('data-backend')] = d; });
    Array.prototype.forEach.call(box.querySelectorAll(':scope > p.empty'), function (p) { p.remove(); });
    var prev = null;
    groups.forEach(function (g) {
      var d = old[g.name];
      delete old[g.name];
      var sig = JSON.stringify(g.servers) + '\u0000' + JSON.stringify(g.pause) + '\u0000' + g.proposals + '\u0000' +
        (g.servers.some(function (s) { return s.alerts && s.alerts.length; }) ? JSON.stringify(alerts) : '') + '\u0000' + filter;
      if (!d) {
        d = buildBackend(g);
        updateBackend(d, g, alerts, force);
      } else if (adopt) {
        adoptRows(d, g, alerts);
      } else if (force || d._sig !== sig) {
        updateBackend(d, g, alerts, force);
      }
      d._sig = sig;
      d._group = g;
      d.hidden = !g.shown;
      var want = prev ? prev.nextElementSibling : box.firstElementChild;
      if (want !== d) box.insertBefore(d, want);
      prev = d;
    });
    Object.keys(old).forEach(function (k) { old[k].remove(); });
    if (!groups.length && !box.firstElementChild) box.append(el('p', { class: 'empty' }, 'no servers seen yet'));
  }

  function emptyRow(cols) { return el('tr', { class: 'empty' }, el('td', { colspan: String(cols) }, 'none')); }

  function proposalRows(st, alerts) {
    var ps = st.proposals || [];
    if (!ps.length) return [emptyRow(9)];
    return ps.map(function (p) {
      var act = p.action + (weight(p.weight) ? ' ' + weight(p.weight) : '');
      return el('tr', { 'data-id': p.id },
        el('td', null, p.id), el('td', null, p.backend + '/' + p.server), el('td', null, act), el('td', null, p.rule || ''),
        el('td', null, alertSpans(alerts, p.alerts)),
        el('td', { class: p.guard === 'ok' ? 'guard-ok' : 'guard-no' }, p.guard || ''),
        el('td', null, ts(p.created)), el('td', null, ts(p.expires)),
        el('td', { class: 'acts' },
          el('button', { type: 'button', 'data-act': 'approve', 'data-id': p.id }, 'approve'),
          el('button', { type: 'button', 'data-act': 'reject', 'data-id': p.id }, 'reject')));
    });
  }

  function alertRows(st) {
    var as = st.alerts || [];
    if (!as.length) return [emptyRow(5)];
    return as.map(function (a) {
      var l = a.labels || {};
      return el('tr', null, el('td', null, l.alertname || ''), el('td', null, a.status + (a.in_force ? ' (in force)' : '')),
        el('td', null, a.rule || ''), el('td', { class: 'labels' }, labelsText(l)), el('td', { class: 'fp' }, a.fingerprint));
    });
  }

  function actorText(a) {
    a = a || {};
    var n = a.type || '';
    if (a.name) n += ' ' + a.name;
    if (a.rule) n += ' rule ' + a.rule;
    return n;
  }

  function historyRows(entries) {
    if (!entries.length) return [emptyRow(8)];
    return entries.map(function (e) {
      return el('tr', null, el('td', null, ts(e.time)), el('td', null, e.kind || ''),
        el('td', null, (e.backend || '') + (e.server ? '/' + e.server : '')), el('td', null, e.action || ''),
        el('td', null, actorText(e.actor)), el('td', null, e.reason || ''), el('td', null, e.result || ''), el('td', null, e.detail || ''));
    });
  }

  function replace(node, kids) { node.replaceChildren.apply(node, kids); }

  // render brings the page in line with a state; force rebuilds everything.
  // render brings the page in line with a state; force rebuilds everything;
  // adopt takes the page as the server rendered it from this very state.
  function render(st, force, adopt) {
    var alerts = {};
    (st.alerts || []).forEach(function (a) { alerts[a.fingerprint] = a; });
    function section(id, name, sig, build) {
      if (!adopt && (force || sig !== sigs[name])) replace($(id), build());
      sigs[name] = sig;
    }
    var gp = (st.paused && st.paused.global) || null;
    section('status', 'status', JSON.stringify(statusNodes(st)), function () { return statusNodes(st); });
    section('pause-global', 'pause', JSON.stringify(gp), function () { return pauseNodes(gp); });
    section('proposals', 'proposals', JSON.stringify(st.proposals || []) + JSON.stringify(alerts), function () { return proposalRows(st, alerts); });
    section('alerts', 'alerts', JSON.stringify(st.alerts || []), function () { return alertRows(st); });
    renderBackends(st, alerts, force, adopt);
  }

  // fnv1a is the 32-bit FNV-1a hash of a string's code units: for ASCII the
  // same as the server's hash of the bytes it rendered from (anything else
  // simply does not match, and the page is rebuilt).
  function fnv1a(str) {
    var h = 0x811c9dc5;
    for (var i = 0; i < str.length; i++) { h ^= str.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
    return ('0000000' + h.toString(16)).slice(-8);
  }

  function renderHistory(h) {
    $('history-error').textContent = '';
    var sig = JSON.stringify(h);
    if (sig === sigs.history) return;
    sigs.history = sig;
    replace($('history'), historyRows(h.entries || []));
  }

  function getJSON(url) {
    return fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } }).then(function (r) {
      return r.text().then(function (text) {
        if (!r.ok) throw new Error(url + ': ' + r.status + ' ' + errorText(text));
        return text;
      });
    });
  }

  function errorText(text) {
    try { var j = JSON.parse(text); if (j && j.error) return j.error + (j.guard ? ' (guard: ' + j.guard + ')' : ''); } catch (e) { /* not JSON */ }
    return text.slice(0, 200);
  }

  // The history is read from the rebalancer's log file, which is costlier
  // than the state: it is fetched when the state changed, after an action,
  // and at least every historyMaxAgeMS.
  var historyMaxAgeMS = 30000;
  var lastStateText = null, lastHistoryAt = -Infinity, historyWanted = true;

  function fetchHistory() {
    lastHistoryAt = performance.now();
    historyWanted = false;
    return getJSON('/api/v1/history?limit=' + historyLimit).then(function (t) { renderHistory(JSON.parse(t)); }, function (e) {
      historyWanted = true; // try again on the next poll
      $('history-error').textContent = 'history unavailable: ' + e.message;
    });
  }

  // refresh fetches the state once and renders it, and the history when due.
  function refresh() {
    var t0 = performance.now();
    return getJSON('/api/v1/state').then(function (text) {
      var t1 = performance.now();
      var changed = text !== lastStateText;
      lastStateText = text;
      var st = JSON.parse(text);
      var t2 = performance.now();
      current = st;
      // The first poll usually returns the very state the server rendered:
      // then nothing needs rebuilding.
      var adopt = stats.polls === 0 && servedHash !== '' && fnv1a(text) === servedHash;
      if (adopt) stats.adopted = true;
      render(st, false, adopt);
      var t3 = performance.now();
      stats.fetchMS = t1 - t0; stats.parseMS = t2 - t1; stats.renderMS = t3 - t2; stats.totalMS = t3 - t0;
      stats.polls++;
      if (stats.polls === 1) stats.liveMS = performance.now(); // since navigation start
      $('refreshed').textContent = ts(new Date().toISOString());
      if (changed || historyWanted || performance.now() - lastHistoryAt > historyMaxAgeMS) return fetchHistory();
    }, function (e) {
      stats.errors++;
      stats.lastError = e.message;
      $('refreshed').textContent = 'failed: ' + e.message;
    });
  }

  function loop() {
    clearTimeout(timer);
    refresh().then(function () { timer = setTimeout(loop, refreshMS); });
  }

  // ---- actions ----

  var pending = null; // the action the dialog confirms

  function flash(text, bad) {
    var f = $('flash');
    f.textContent = text;
    f.className = bad ? 'error' : 'ok';
  }

  function describe(act, target) {
    switch (act) {
      case 'drain': return 'Drain ' + target + ': no new sessions, the current ones finish. The server is held until released or the expiry.';
      case 'maint': return 'Put ' + target + ' into maintenance: it takes no traffic. Held until released or the expiry.';
      case 'ready': return 'Set ' + target + ' ready and hold it there: alerts do not take it out until released or the expiry.';
      case 'weight': return 'Set the weight of ' + target + ' and hold it there until released or the expiry.';
      case 'release': return 'Hand ' + target + ' back to the rebalancer: alerts decide again.';
      case 'pause': return 'Pause ' + target + ': alerts are still recorded, but no new drain, maint or weight change is applied.';
      case 'resume': return 'Resume ' + target + ': alerts are applied again.';
      case 'approve': return 'Apply proposal ' + target + '.';
      case 'reject': return 'Drop proposal ' + target + '.';
    }
    return act + ' ' + target;
  }

  // The author is remembered in the browser when it lets the page store it.
  function stored(k) { try { return localStorage.getItem(k); } catch (e) { return null; } }
  function store(k, v) { try { localStorage.setItem(k, v); } catch (e) { /* storage off: ask again next time */ } }

  function openDialog(act, btn) {
    var p = { act: act };
    if (act === 'approve' || act === 'reject') {
      p.id = btn.getAttribute('data-id');
      p.target = p.id;
      p.url = '/api/v1/proposals/' + encodeURIComponent(p.id) + '/' + act;
    } else if (act === 'pause' || act === 'resume') {
      p.backend = btn.getAttribute('data-backend') || '';
      p.target = p.backend ? 'backend ' + p.backend : 'the rebalancer (all backends)';
      p.url = '/api/v1/' + act;
    } else {
      var row = btn.closest('tr');
      p.backend = row.getAttribute('data-backend');
      p.server = row.getAttribute('data-server');
      p.target = p.backend + '/' + p.server;
      p.url = '/api/v1/servers/' + encodeURIComponent(p.backend) + '/' + encodeURIComponent(p.server) + '/' + act;
    }
    var onServer = act === 'drain' || act === 'maint' || act === 'ready' || act === 'weight';
    p.needReason = onServer || act === 'pause';
    pending = p;
    $('confirm-title').textContent = act + ' ' + p.target;
    $('confirm-what').textContent = describe(act, p.target);
    $('row-weight').hidden = act !== 'weight';
    $('row-expires').hidden = !(onServer || act === 'pause');
    $('row-force').hidden = !onServer;
    $('row-restores').hidden = act !== 'pause';
    $('f-reason').placeholder = p.needReason ? 'required' : 'optional';
    $('f-reason').value = '';
    $('f-expires').value = '';
    $('f-weight').value = '';
    $('f-force').checked = false;
    $('f-restores').checked = false;
    if (!$('f-author').value) $('f-author').value = stored('lbpilot-author') || meta('lbpilot-operator');
    $('confirm-error').textContent = '';
    $('confirm-ok').disabled = false;
    $('confirm').showModal();
    $('f-reason').focus();
  }

  function submit(ev) {
    ev.preventDefault();
    var p = pending;
    if (!p) return;
    var reason = $('f-reason').value.trim(), author = $('f-author').value.trim();
    if (p.needReason && !reason) { $('confirm-error').textContent = 'a reason is required'; return; }
    if (!author) { $('confirm-error').textContent = 'an author is required'; return; }
    var weight = null;
    if (p.act === 'weight') {
      var w = $('f-weight').value.trim();
      if (!/^[0-9]+$/.test(w) || +w > 256) { $('confirm-error').textContent = 'the weight must be a whole number from 0 to 256'; return; }
      weight = +w;
    }
    store('lbpilot-author', author);
    var body = { author: author };
    if (reason) body.reason = reason;
    if (p.act === 'pause' || p.act === 'resume') body.backend = p.backend;
    if (!$('row-expires').hidden && $('f-expires').value.trim()) body.expires_in = $('f-expires').value.trim();
    if (!$('row-force').hidden) body.force = $('f-force').checked;
    if (p.act === 'pause') body.restores = $('f-restores').checked;
    if (weight !== null) body.weight = weight;
    $('confirm-ok').disabled = true;
    fetch(p.url, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, Accept: 'application/json' },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (text) {
        if (!r.ok) throw new Error(r.status + ': ' + errorText(text));
        var res = '';
        try { res = JSON.parse(text).result || ''; } catch (e) { /* no result field */ }
        $('confirm').close();
        pending = null;
        flash(p.act + ' ' + p.target + ': ' + (res || 'done'), false);
        historyWanted = true;
        loop();
      });
    }).catch(function (e) {
      $('confirm-ok').disabled = false;
      $('confirm-error').textContent = e.message;
    });
  }

  function init() {
    document.addEventListener('click', function (ev) {
      var btn = ev.target.closest('button[data-act]');
      if (btn) { openDialog(btn.getAttribute('data-act'), btn); return; }
      var sum = ev.target.closest('details.backend > summary');
      if (sum) {
        var d = sum.parentElement;
        userOpen[d.getAttribute('data-backend')] = !d.open; // the state after this click
      }
    });
    // A backend rendered closed gets its rows when it is opened.
    $('backends').addEventListener('toggle', function (ev) {
      var d = ev.target;
      if (d.open && d.getAttribute('data-filled') === '0' && d._group && current) {
        var alerts = {};
        (current.alerts || []).forEach(function (a) { alerts[a.fingerprint] = a; });
        fillBackend(d, d._group, alerts, false);
      }
    }, true);
    var filterTimer = null;
    $('filter').addEventListener('input', function () {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(function () {
        filter = $('filter').value.trim().toLowerCase();
        if (current) render(current, false);
      }, 150);
    });
    $('confirm-form').addEventListener('submit', submit);
    $('confirm-cancel').addEventListener('click', function () { pending = null; $('confirm').close(); });
    loop();
  }

  // rerender rebuilds the whole page from the last state (tests compare it
  // with what the server rendered).
  function rerender() { if (current) render(current, true); }

  window.lbpilot = { stats: stats, refresh: refresh, rerender: rerender, state: function () { return current; } };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
}());
