// evalgate HTML report: renders the embedded data (#evalgate-data).
// Plain JavaScript, no framework, no network. The case list is paged (100
// rows a page) so the page stays quick with tens of thousands of cases.
(function () {
  'use strict';
  var t0 = performance.now();
  var D = JSON.parse(document.getElementById('evalgate-data').textContent);
  var CASES = D.cases || [];
  // Plan order, however the cases arrived (merged shards come in any order).
  CASES.sort(function (a, b) { return a.seq - b.seq; });
  var S = D.summary || {};
  var PAGE = 100;
  var OUTCOMES = ['pass', 'fail', 'error', 'skipped'];
  var app = document.getElementById('app');
  var nav = document.getElementById('nav');

  // Control characters (ANSI escapes among them) shown as their Unicode
  // pictures, so nothing in an output can move the text around.
  var CTRL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
  function clean(s) {
    if (s === null || s === undefined) return '';
    return String(s).replace(CTRL, function (c) {
      var n = c.charCodeAt(0);
      return String.fromCharCode(n === 127 ? 0x2421 : 0x2400 + n);
    });
  }

  // Make an element: h('td', {class: 'x'}, ['text', child]).
  function h(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k)) continue;
        var v = attrs[k];
        if (v === null || v === undefined || v === false) continue;
        if (k === 'text') e.textContent = clean(v);
        else if (k === 'on') { for (var ev in v) e.addEventListener(ev, v[ev]); }
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    add(e, kids);
    return e;
  }
  function add(e, kids) {
    if (kids === null || kids === undefined) return e;
    if (!Array.isArray(kids)) kids = [kids];
    for (var i = 0; i < kids.length; i++) {
      var c = kids[i];
      if (c === null || c === undefined || c === false) continue;
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(clean(c)));
    }
    return e;
  }
  var SVG = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function ms(v) {
    if (v === null || v === undefined || isNaN(v)) return '–';
    if (v >= 10000) return (v / 1000).toFixed(1) + ' s';
    if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
    if (v >= 100) return v.toFixed(0) + ' ms';
    if (v >= 10) return v.toFixed(1) + ' ms';
    if (v >= 1) return v.toFixed(2) + ' ms';
    return (v * 1000).toFixed(v >= 0.01 ? 0 : 1) + ' µs';
  }
  function pct(v) { return v === null || v === undefined ? '–' : (100 * v).toFixed(1) + '%'; }
  function usd(v) {
    if (v === null || v === undefined) return 'unknown';
    // As the console writes it: cents from $1, else up to 6 decimals.
    if (v >= 1 || v === 0) return '$' + v.toFixed(2);
    var t = v.toFixed(6).replace(/0+$/, '');
    return t.split('.')[1].length < 2 ? '$' + v.toFixed(2) : '$' + t;
  }
  function passRate(c) {
    var n = c.passed + c.failed;
    return n > 0 ? c.passed / n : null;
  }
  function badge(outcome, flaky) {
    var kids = [h('span', { class: 'badge ' + outcome, text: outcome })];
    if (flaky) kids.push(h('span', { class: 'badge flaky', text: 'flaky' }));
    return kids;
  }
  function mean(a) {
    if (!a.length) return null;
    var t = 0;
    for (var i = 0; i < a.length; i++) t += a[i];
    return t / a.length;
  }
  function keys(o) { return o ? Object.keys(o).sort() : []; }
  function section(id, title) {
    var sec = h('section', { id: id, 'aria-labelledby': id + '-h' }, h('h2', { id: id + '-h', text: title }));
    app.appendChild(sec);
    if (id !== 'cases') add(nav, [' ', h('a', { href: '#' + id, text: title })]);
    return sec;
  }
  function table(caption, head, rows, cls) {
    var t = h('table', { class: 'grid' + (cls ? ' ' + cls : '') });
    if (caption) t.appendChild(h('caption', { text: caption }));
    var tr = h('tr');
    head.forEach(function (c) { tr.appendChild(h('th', { scope: 'col', text: c })); });
    t.appendChild(h('thead', null, tr));
    var tb = h('tbody');
    rows.forEach(function (r) {
      var row = h('tr');
      r.forEach(function (c, i) {
        var cell = i === 0 ? h('th', { scope: 'row' }) : h('td', typeof c === 'number' ? { class: 'num' } : null);
        add(cell, c === null || c === undefined ? '–' : (typeof c === 'number' ? String(c) : c));
        row.appendChild(cell);
      });
      tb.appendChild(row);
    });
    t.appendChild(tb);
    return t;
  }

  // ---- diffs: unified text → lines; side by side pairs removed and added lines.
  function parseDiff(text) {
    var lines = text.split('\n');
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    return lines.map(function (l) {
      var k = 'ctx';
      if (l.indexOf('@@') === 0) k = 'hunk';
      else if (l.indexOf('--- ') === 0 || l.indexOf('+++ ') === 0) k = 'file';
      else if (l[0] === '+') k = 'add';
      else if (l[0] === '-') k = 'del';
      return { k: k, t: l };
    });
  }
  function unifiedView(lines) {
    var pre = h('pre', { class: 'diff-unified' });
    lines.forEach(function (l) {
      pre.appendChild(h('span', { class: l.k === 'file' ? 'hunk' : l.k, text: l.t || ' ' }));
    });
    return pre;
  }
  function splitView(lines) {
    var t = h('table', { class: 'diff-split' });
    add(t, h('colgroup', null, [h('col', { class: 'ln' }), h('col'), h('col', { class: 'ln' }), h('col')]));
    var names = ['expected', 'output'];
    lines.forEach(function (l) {
      if (l.k === 'file') {
        if (l.t.indexOf('--- ') === 0) names[0] = l.t.slice(4);
        else names[1] = l.t.slice(4);
      }
    });
    t.appendChild(h('thead', null, h('tr', null, [
      h('th', { colspan: 2, scope: 'col', text: names[0] }), h('th', { colspan: 2, scope: 'col', text: names[1] })
    ])));
    var tb = h('tbody');
    var dels = [], adds = [], a = 0, b = 0;
    function flush() {
      var n = Math.max(dels.length, adds.length);
      for (var i = 0; i < n; i++) {
        var d = dels[i], p = adds[i];
        tb.appendChild(h('tr', null, [
          h('td', { class: 'ln', text: d ? d.n : '' }), h('td', { class: d ? 'del' : '', text: d ? d.t : '' }),
          h('td', { class: 'ln', text: p ? p.n : '' }), h('td', { class: p ? 'add' : '', text: p ? p.t : '' })
        ]));
      }
      dels = []; adds = [];
    }
    lines.forEach(function (l) {
      if (l.k === 'file') return;
      if (l.k === 'hunk') {
        flush();
        var m = /^@@ -(\d+)(?:,\d+)? \+(\d+)/.exec(l.t);
        if (m) { a = +m[1]; b = +m[2]; } else { a = 0; b = 0; }
        tb.appendChild(h('tr', null, h('td', { colspan: 4, class: 'hunk', text: l.t })));
      } else if (l.k === 'del') { dels.push({ n: a ? a++ : '', t: l.t.slice(1) }); }
      else if (l.k === 'add') { adds.push({ n: b ? b++ : '', t: l.t.slice(1) }); }
      else {
        flush();
        var t = l.t.slice(1);
        tb.appendChild(h('tr', null, [
          h('td', { class: 'ln', text: a ? a++ : '' }), h('td', { text: t }),
          h('td', { class: 'ln', text: b ? b++ : '' }), h('td', { text: t })
        ]));
      }
    });
    flush();
    t.appendChild(tb);
    return t;
  }
  var diffMode = 'unified';
  function diffBlock(d) {
    var lines = parseDiff(d.diff);
    var uni = unifiedView(lines), split = splitView(lines);
    var bu = h('button', { type: 'button', class: 'diff-mode', 'data-mode': 'unified', text: 'Unified' });
    var bs = h('button', { type: 'button', class: 'diff-mode', 'data-mode': 'split', text: 'Side by side' });
    function show(mode) {
      uni.classList.toggle('hidden', mode !== 'unified');
      split.classList.toggle('hidden', mode !== 'split');
      bu.setAttribute('aria-pressed', String(mode === 'unified'));
      bs.setAttribute('aria-pressed', String(mode === 'split'));
    }
    bu.addEventListener('click', function () { diffMode = 'unified'; show('unified'); });
    bs.addEventListener('click', function () { diffMode = 'split'; show('split'); });
    show(diffMode);
    return h('div', { class: 'diff' }, [
      h('div', { class: 'diff-head', role: 'group', 'aria-label': 'Diff view of ' + d.check }, [
        h('span', { class: 'title', text: 'diff: ' + d.check }), bu, bs
      ]),
      uni, split
    ]);
  }

  // ---- a case's details row.
  function details(c) {
    var td = h('td', { colspan: columns.length });
    var facts = [];
    facts.push('source ' + c.source);
    if (c.model) facts.push('model ' + c.model);
    if (c.repeats > 1) facts.push(c.passes + ' of ' + c.repeats + ' repeats passed');
    facts.push('score ' + c.score.toFixed(2));
    if (c.latencies.length) facts.push('latency ' + c.latencies.map(ms).join(', '));
    if (c.recorded) facts.push(c.recorded + ' recorded answer' + (c.recorded > 1 ? 's' : ''));
    if (c.cost_usd !== undefined) facts.push('cost ' + usd(c.cost_usd));
    if (c.tags.length) facts.push('tags ' + c.tags.join(', '));
    if (c.attack) facts.push('attack ' + c.attack.category + ' (' + c.attack.owasp.join(', ') + '), seed ' + c.attack.seed + (c.attack.mutator ? ', ' + c.attack.mutator : ''));
    add(td, h('p', { class: 'facts', text: facts.join(' · ') }));
    if (c.description) add(td, h('p', { text: c.description }));
    if (c.details) add(td, [h('h3', { text: 'Explanation' }), h('pre', { class: 'explain', text: c.details })]);
    (c.diffs || []).forEach(function (d) { td.appendChild(diffBlock(d)); });
    if (c.output !== undefined && !c.details) add(td, [h('h3', { text: 'Output' }), h('pre', { class: 'output', text: c.output })]);
    return h('tr', { class: 'details', id: 'details-' + c.seq }, td);
  }

  // ---- filters and the case list.
  var hasVariants = CASES.some(function (c) { return c.variant !== undefined; });
  var multiProvider = keys(S.providers).length > 1;
  var columns = ['outcome', 'case'];
  if (multiProvider) columns.push('provider');
  if (hasVariants) columns.push('variant');
  columns.push('latency', 'why');

  var state = { outcome: '', suite: '', tag: '', provider: '', variant: '', q: '', page: 0 };
  var open = {};
  var haystacks = null;
  function haystack(i) {
    if (!haystacks) haystacks = new Array(CASES.length);
    var v = haystacks[i];
    if (v === undefined) {
      var c = CASES[i];
      v = [c.id, c.provider, c.variant || '', c.tags.join(' '), c.description || '', c.message || '', c.output || '', c.source, c.model || '']
        .join('\n').toLowerCase();
      haystacks[i] = v;
    }
    return v;
  }
  function matches(c, i) {
    if (state.outcome) {
      if (state.outcome === 'flaky') { if (!c.flaky) return false; }
      else if (state.outcome === 'problems') { if (c.outcome !== 'fail' && c.outcome !== 'error') return false; }
      else if (c.outcome !== state.outcome) return false;
    }
    if (state.suite && c.suite !== state.suite) return false;
    if (state.provider && c.provider !== state.provider) return false;
    if (state.variant && (c.variant || '') !== state.variant) return false;
    if (state.tag && c.tags.indexOf(state.tag) < 0) return false;
    if (state.q) {
      var words = state.q;
      var hs = haystack(i);
      for (var w = 0; w < words.length; w++) if (hs.indexOf(words[w]) < 0) return false;
    }
    return true;
  }

  function select(id, label, options) {
    var sel = h('select', { id: id, name: id });
    options.forEach(function (o) { sel.appendChild(h('option', { value: o[0], text: o[1] })); });
    return { label: h('label', { for: id }, [label, sel]), el: sel };
  }
  function countsBy(field) {
    var m = {};
    CASES.forEach(function (c) {
      var vals = field === 'tags' ? c.tags : [c[field] === undefined ? '' : c[field]];
      vals.forEach(function (v) { m[v] = (m[v] || 0) + 1; });
    });
    return m;
  }
  function optionsOf(field, allLabel) {
    var m = countsBy(field);
    return [['', allLabel]].concat(Object.keys(m).sort().map(function (k) {
      return [k, (k === '' ? '(none)' : k) + ' (' + m[k] + ')'];
    }));
  }

  var casesSec = section('cases', 'Cases');
  var oc = countsBy('outcome');
  var flakyN = CASES.filter(function (c) { return c.flaky; }).length;
  var fo = select('f-outcome', 'Outcome', [['', 'all (' + CASES.length + ')']]
    .concat([['problems', 'failed or errored (' + ((oc.fail || 0) + (oc.error || 0)) + ')']])
    .concat(OUTCOMES.map(function (o) { return [o, o + ' (' + (oc[o] || 0) + ')']; }))
    .concat([['flaky', 'flaky (' + flakyN + ')']]));
  var fs = select('f-suite', 'Suite', optionsOf('suite', 'all suites'));
  var ft = select('f-tag', 'Tag', optionsOf('tags', 'all tags'));
  var fp = select('f-provider', 'Provider', optionsOf('provider', 'all providers'));
  var fv = hasVariants ? select('f-variant', 'Prompt variant', optionsOf('variant', 'all variants')) : null;
  var search = h('input', { type: 'search', id: 'f-search', placeholder: 'id, message, output, tag…', autocomplete: 'off' });
  var reset = h('button', { type: 'button', id: 'f-reset', text: 'Clear filters' });
  var form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter cases', on: { submit: function (e) { e.preventDefault(); } } }, [
    fo.label, fs.label, ft.label, fp.label, fv ? fv.label : null,
    h('label', { for: 'f-search' }, ['Search (press / to focus)', search]), reset
  ]);
  var count = h('p', { id: 'case-count', 'aria-live': 'polite' });
  var prev = h('button', { type: 'button', id: 'page-prev', text: '← Previous' });
  var next = h('button', { type: 'button', id: 'page-next', text: 'Next →' });
  var pageInfo = h('span', { id: 'page-info' });
  var pager = h('div', { class: 'pager', role: 'navigation', 'aria-label': 'Case pages' }, [prev, pageInfo, next]);
  var tbl = h('table', { class: 'grid', id: 'case-table' });
  var colgroup = h('colgroup');
  var colClass = { outcome: 'c-outcome', case: 'c-id', provider: 'c-provider', variant: 'c-variant', latency: 'c-latency', why: 'c-why' };
  columns.forEach(function (c) { colgroup.appendChild(h('col', { class: colClass[c] })); });
  tbl.appendChild(colgroup);
  var htr = h('tr');
  columns.forEach(function (c) { htr.appendChild(h('th', { scope: 'col', text: c })); });
  tbl.appendChild(h('thead', null, htr));
  var tbody = h('tbody', { id: 'case-rows' });
  tbl.appendChild(tbody);
  add(casesSec, [form, count, pager, tbl]);
  if (D.run && D.run.planned_cases > CASES.length && D.stopped) {
    add(casesSec, h('p', { class: 'note', text: (S.not_run || 0) + ' planned cases did not run (the run stopped early).' }));
  }

  var filtered = [];
  function refilter() {
    filtered = [];
    for (var i = 0; i < CASES.length; i++) if (matches(CASES[i], i)) filtered.push(i);
    state.page = 0;
    render();
  }
  function toggle(c, btn) {
    var row = document.getElementById('details-' + c.seq);
    if (row) {
      row.parentNode.removeChild(row);
      delete open[c.seq];
      btn.setAttribute('aria-expanded', 'false');
    } else {
      var tr = btn.closest('tr');
      tr.parentNode.insertBefore(details(c), tr.nextSibling);
      open[c.seq] = true;
      btn.setAttribute('aria-expanded', 'true');
    }
  }
  function caseRow(c) {
    var btn = h('button', { type: 'button', class: 'link toggle', 'aria-expanded': 'false', 'aria-controls': 'details-' + c.seq, text: c.id });
    btn.addEventListener('click', function () { toggle(c, btn); });
    var tr = h('tr', { class: 'case ' + c.outcome, 'data-seq': c.seq, 'data-id': c.id + (multiProvider ? ' [' + c.provider + ']' : ''), 'data-outcome': c.outcome });
    tr.appendChild(h('td', null, badge(c.outcome, c.flaky)));
    tr.appendChild(h('td', null, btn));
    if (multiProvider) tr.appendChild(h('td', { text: c.provider }));
    if (hasVariants) tr.appendChild(h('td', { text: c.variant || '' }));
    tr.appendChild(h('td', { class: 'num', text: ms(mean(c.latencies)) }));
    tr.appendChild(h('td', { class: 'msg', text: c.message || (c.description || '') }));
    return { tr: tr, btn: btn };
  }
  function render() {
    var pages = Math.max(1, Math.ceil(filtered.length / PAGE));
    if (state.page >= pages) state.page = pages - 1;
    var from = state.page * PAGE, to = Math.min(filtered.length, from + PAGE);
    var frag = document.createDocumentFragment();
    for (var i = from; i < to; i++) {
      var c = CASES[filtered[i]];
      var r = caseRow(c);
      frag.appendChild(r.tr);
      if (open[c.seq]) { frag.appendChild(details(c)); r.btn.setAttribute('aria-expanded', 'true'); }
    }
    tbody.textContent = '';
    tbody.appendChild(frag);
    count.textContent = filtered.length === CASES.length
      ? CASES.length + ' cases'
      : filtered.length + ' of ' + CASES.length + ' cases match';
    if (filtered.length === 0) {
      tbody.appendChild(h('tr', null, h('td', { colspan: columns.length, class: 'note', text: 'No case matches the filters.' })));
    }
    pageInfo.textContent = filtered.length ? 'rows ' + (from + 1) + '–' + to + ' of ' + filtered.length + ' (page ' + (state.page + 1) + ' of ' + pages + ')' : '';
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
  }
  function bind(sel, key) {
    if (!sel) return;
    sel.el.addEventListener('change', function () { state[key] = sel.el.value; refilter(); });
  }
  bind(fo, 'outcome'); bind(fs, 'suite'); bind(ft, 'tag'); bind(fp, 'provider'); bind(fv, 'variant');
  search.addEventListener('input', function () {
    var q = search.value.trim().toLowerCase();
    state.q = q ? q.split(/\s+/) : '';
    refilter();
  });
  reset.addEventListener('click', function () {
    [fo, fs, ft, fp, fv].forEach(function (x) { if (x) x.el.value = ''; });
    search.value = '';
    state.outcome = state.suite = state.tag = state.provider = state.variant = state.q = '';
    refilter();
  });
  prev.addEventListener('click', function () { if (state.page > 0) { state.page--; render(); } });
  next.addEventListener('click', function () { state.page++; render(); });
  document.addEventListener('keydown', function (e) {
    var t = e.target && e.target.tagName;
    if (e.key === '/' && t !== 'INPUT' && t !== 'SELECT' && t !== 'TEXTAREA') { e.preventDefault(); search.focus(); }
  });
  // Start on what needs attention when something failed.
  if ((oc.fail || 0) + (oc.error || 0) > 0) { fo.el.value = 'problems'; state.outcome = 'problems'; }
  refilter();
  var firstRender = performance.now();

  // ---- the baseline comparison.
  var C = D.comparison;
  if (C) {
    var sec = section('comparison', 'Baseline comparison');
    var who = function (m) {
      var parts = [];
      if (m.git_commit) parts.push('commit ' + m.git_commit.slice(0, 12));
      if (m.started_at) parts.push(m.started_at);
      parts.push(m.cases + ' cases');
      return parts.join(', ');
    };
    add(sec, h('p', { class: 'meta', text: 'baseline: ' + who(C.base) + ' → this run: ' + who(C.head) + '; ' + C.matched + ' matched, ' + C.unchanged + ' unchanged' }));
    var cc = h('div', { class: 'counts', id: 'comparison-counts' });
    [['regressions', 'regressions', 'fail'], ['fixed', 'fixed', 'pass'], ['new', 'new', 'total'], ['removed', 'removed', 'skipped']]
      .forEach(function (x) {
        add(cc, h('div', { class: 'count ' + x[2] }, [h('span', { class: 'n', 'data-count': x[0], text: (C[x[0]] || []).length }), ' ', h('span', { class: 'label', text: x[1] })]));
      });
    sec.appendChild(cc);
    (C.notes || []).forEach(function (n) { add(sec, h('p', { class: 'note', text: n })); });
    var LIMIT = 200;
    function list(title, arr, head, row) {
      if (!arr || !arr.length) return;
      add(sec, table(title + ' (' + arr.length + ')', head, arr.slice(0, LIMIT).map(row)));
      if (arr.length > LIMIT) add(sec, h('p', { class: 'note', text: '…and ' + (arr.length - LIMIT) + ' more (the JSON report has all)' }));
    }
    function id(x) { return x.suite + '/' + x.case + (multiProvider || x.provider !== (D.run && D.run.providers[0]) ? ' [' + x.provider + ']' : ''); }
    function sc(v) { return v === null || v === undefined ? '–' : v.toFixed(2); }
    list('Regressions', C.regressions, ['case', 'before → after', 'score', 'why'], function (r) {
      return [id(r), r.before + ' → ' + r.after, sc(r.score_before) + ' → ' + sc(r.score_after), r.reason + (r.test ? ' (Fisher p = ' + r.test.p_value.toPrecision(3) + ')' : '')];
    });
    list('Not significant (repeats)', C.not_significant, ['case', 'before → after', 'why'], function (r) {
      return [id(r), r.before + ' → ' + r.after, r.reason + (r.test ? ' (Fisher p = ' + r.test.p_value.toPrecision(3) + ' ≥ ' + r.test.alpha + ')' : '')];
    });
    list('Fixed', C.fixed, ['case', 'before → after', 'score'], function (r) {
      return [id(r), r.before + ' → ' + r.after, sc(r.score_before) + ' → ' + sc(r.score_after)];
    });
    list('Failure kind changed', C.failure_kind_changed, ['case', 'before → after', 'why'], function (r) {
      return [id(r), r.before + ' → ' + r.after, r.reason];
    });
    list('New', C.new, ['case', 'outcome', 'why'], function (r) {
      return [id(r), r.outcome + (r.flaky ? ' (flaky)' : ''), r.reason || ''];
    });
    list('Removed', C.removed, ['case', 'outcome in the baseline'], function (r) { return [id(r), r.outcome]; });
    list('Not run in this run', C.not_run, ['suite', 'cases', 'why'], function (r) { return [r.suite, r.cases, r.reason.replace(/_/g, ' ')]; });
    list('Score changes', C.score_changes, ['case', 'outcome', 'score'], function (r) {
      return [id(r), r.outcome, r.before.toFixed(2) + ' → ' + r.after.toFixed(2)];
    });
    list('Latency changes (largest ' + (C.latency_changes || []).length + ' of ' + C.latency_changes_total + ')', C.latency_changes, ['case', 'mean latency'], function (r) {
      return [id(r), ms(r.before_ms) + ' → ' + ms(r.after_ms)];
    });
  }

  // ---- providers side by side.
  var pnames = keys(S.providers);
  var lat = S.latency || {};
  if (pnames.length) {
    var ps = section('providers', pnames.length > 1 ? 'Providers side by side' : 'Provider');
    add(ps, table(null, ['provider', 'cases', 'passed', 'failed', 'errors', 'skipped', 'flaky', 'pass rate', 'p50', 'p95', 'cost'],
      pnames.map(function (p) {
        var c = S.providers[p], l = (lat.providers || {})[p] || {};
        return [p, c.total, c.passed, c.failed, c.errored, c.skipped, c.flaky, pct(passRate(c)),
          ms(l.latency ? l.latency.p50_ms : null), ms(l.latency ? l.latency.p95_ms : null), usd(c.cost_usd)];
      }), 'provider-table'));
    if (pnames.length > 1) {
      // Per case (suite/case@variant): the outcome under each provider.
      var byId = {}, order = [];
      CASES.forEach(function (c) {
        var row = byId[c.id];
        if (!row) { row = byId[c.id] = {}; order.push(c.id); }
        row[c.provider] = c;
      });
      var differs = order.filter(function (k) {
        var seen = null, diff = false;
        pnames.forEach(function (p) {
          var o = byId[k][p] ? byId[k][p].outcome : 'none';
          if (seen === null) seen = o; else if (o !== seen) diff = true;
        });
        return diff;
      });
      var only = h('input', { type: 'checkbox', id: 'm-differs' });
      only.checked = differs.length > 0;
      var mcount = h('p', { id: 'matrix-count', 'aria-live': 'polite' });
      var mt = h('table', { class: 'grid', id: 'matrix-table' });
      var mh = h('tr', null, h('th', { scope: 'col', text: 'case' }));
      pnames.forEach(function (p) { mh.appendChild(h('th', { scope: 'col', text: p })); });
      mt.appendChild(h('thead', null, mh));
      var mb = h('tbody');
      mt.appendChild(mb);
      var mpage = 0;
      var mprev = h('button', { type: 'button', text: '← Previous' }), mnext = h('button', { type: 'button', text: 'Next →' });
      var minfo = h('span');
      var mrender = function () {
        var list = only.checked ? differs : order;
        var pages = Math.max(1, Math.ceil(list.length / PAGE));
        if (mpage >= pages) mpage = pages - 1;
        mb.textContent = '';
        list.slice(mpage * PAGE, mpage * PAGE + PAGE).forEach(function (k) {
          var tr = h('tr', null, h('th', { scope: 'row', text: k }));
          pnames.forEach(function (p) {
            var c = byId[k][p];
            tr.appendChild(h('td', null, c ? badge(c.outcome, c.flaky).concat([' ' + ms(mean(c.latencies))]) : h('span', { class: 'badge none', text: 'not run' })));
          });
          mb.appendChild(tr);
        });
        mcount.textContent = differs.length + ' of ' + order.length + ' cases differ between providers; showing ' + list.length;
        minfo.textContent = 'page ' + (mpage + 1) + ' of ' + pages;
        mprev.disabled = mpage === 0;
        mnext.disabled = mpage >= pages - 1;
      };
      only.addEventListener('change', function () { mpage = 0; mrender(); });
      mprev.addEventListener('click', function () { mpage--; mrender(); });
      mnext.addEventListener('click', function () { mpage++; mrender(); });
      add(ps, [h('h3', { text: 'Per case' }), h('label', { for: 'm-differs' }, [only, ' only cases whose outcome differs']), mcount,
        h('div', { class: 'pager' }, [mprev, minfo, mnext]), mt]);
      mrender();
    }
  }

  // ---- latency: percentiles (HDR histograms of the run) and distributions.
  if (lat.overall && (lat.overall.latency || lat.overall.recorded)) {
    var ls = section('latency', 'Latency');
    var lrows = [];
    var lrow = function (name, x) {
      var p = x.latency || {}, t = x.ttft || {};
      lrows.push([name, p.n || 0, ms(p.p50_ms), ms(p.p90_ms), ms(p.p95_ms), ms(p.p99_ms), ms(p.max_ms), ms(t.p50_ms), ms(t.p95_ms), x.recorded || 0]);
    };
    keys(lat.suites).forEach(function (k) { lrow(k, lat.suites[k]); });
    if (pnames.length > 1) keys(lat.providers).forEach(function (k) { lrow('provider ' + k, lat.providers[k]); });
    lrow('total', lat.overall);
    add(ls, table(null, ['group', 'n', 'p50', 'p90', 'p95', 'p99', 'max', 'ttft p50', 'ttft p95', 'recorded'], lrows, 'latency-table'));
    add(ls, h('p', { class: 'note', text: 'Percentiles of this run\'s answers: nearest rank in an HDR histogram (3 significant digits). Answers from the cache or a cassette are recorded, not samples; errors are not samples. The charts count each answer\'s latency in logarithmic bins.' }));
    var groups = pnames.length > 1 ? pnames : ['all'];
    var samples = {}, lo = Infinity, hi = 0;
    groups.forEach(function (g) { samples[g] = []; });
    CASES.forEach(function (c) {
      var arr = samples[pnames.length > 1 ? c.provider : 'all'];
      if (!arr) return;
      for (var i = 0; i < c.latencies.length; i++) {
        var v = Math.max(c.latencies[i], 0.001);
        arr.push(v);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    });
    var charts = h('div', { class: 'charts', id: 'latency-charts' });
    if (hi > 0) {
      groups.forEach(function (g) {
        var pc = g === 'all' ? lat.overall.latency : ((lat.providers || {})[g] || {}).latency;
        charts.appendChild(histogram(g === 'all' ? 'All answers' : g, samples[g], lo, hi, pc));
      });
      ls.appendChild(charts);
    }
  }

  function histogram(title, xs, lo, hi, pc) {
    var W = 440, H = 180, L = 36, B = 30, T = 8, R = 10, BINS = 30;
    var logLo = Math.log(lo), logHi = Math.log(hi);
    var log = hi / lo > 20;
    if (!(logHi > logLo)) { logHi = logLo + 1e-9; }
    var pos = function (v) {
      if (log) return (Math.log(v) - logLo) / (logHi - logLo);
      return hi > lo ? (v - lo) / (hi - lo) : 0.5;
    };
    var bins = new Array(BINS).fill(0);
    xs.forEach(function (v) { bins[Math.min(BINS - 1, Math.max(0, Math.floor(pos(v) * BINS)))]++; });
    var top = Math.max.apply(null, bins.concat([1]));
    var pw = W - L - R, ph = H - T - B;
    var svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img',
      'aria-label': title + ': ' + xs.length + ' answers' + (pc ? ', p50 ' + ms(pc.p50_ms) + ', p95 ' + ms(pc.p95_ms) : '') });
    svg.appendChild(s('title', {}, title + ' latency distribution'));
    bins.forEach(function (n, i) {
      if (!n) return;
      var bh = ph * n / top;
      var r = s('rect', { class: 'bar', x: L + pw * i / BINS + 0.5, y: T + ph - bh, width: Math.max(1, pw / BINS - 1), height: bh });
      r.appendChild(s('title', {}, n + ' answer' + (n > 1 ? 's' : '')));
      svg.appendChild(r);
    });
    svg.appendChild(s('line', { class: 'axis', x1: L, y1: T + ph, x2: L + pw, y2: T + ph }));
    svg.appendChild(s('line', { class: 'axis', x1: L, y1: T, x2: L, y2: T + ph }));
    svg.appendChild(s('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, String(top)));
    svg.appendChild(s('text', { x: L - 4, y: T + ph, 'text-anchor': 'end' }, '0'));
    for (var k = 0; k <= 4; k++) {
      var f = k / 4;
      var v = log ? Math.exp(logLo + f * (logHi - logLo)) : lo + f * (hi - lo);
      svg.appendChild(s('text', { x: L + pw * f, y: H - 12, 'text-anchor': k === 0 ? 'start' : (k === 4 ? 'end' : 'middle') }, ms(v)));
    }
    svg.appendChild(s('text', { x: L + pw / 2, y: H - 1, 'text-anchor': 'middle' }, log ? 'latency (log scale)' : 'latency'));
    var legend = h('div', { class: 'legend' });
    if (pc) {
      [['p50', pc.p50_ms], ['p95', pc.p95_ms]].forEach(function (m) {
        var x = L + pw * Math.min(1, Math.max(0, pos(Math.max(m[1], lo))));
        svg.appendChild(s('line', { class: m[0], x1: x, y1: T, x2: x, y2: T + ph }));
        add(legend, h('span', { text: '┆ ' + m[0] + ' ' + ms(m[1]) }));
      });
    }
    return h('figure', { class: 'chart' }, [h('figcaption', { text: title + ' (' + xs.length + ' answers)' }), svg, legend]);
  }

  // ---- cost and tokens.
  var o = S.overall || {};
  if (o.attempts_with_usage > 0 || o.cost_usd !== null && o.cost_usd !== undefined) {
    var cs = section('cost', 'Cost and tokens');
    var crow = function (name, c) {
      return [name, c.attempts, c.input_tokens, c.output_tokens, usd(c.cost_usd) + (c.cost_usd !== null && c.attempts_priced < c.attempts ? ' (' + c.attempts_priced + ' of ' + c.attempts + ' priced)' : ''),
        c.attempts_with_check_calls ? usd(c.judge_cost_usd) : '–'];
    };
    var crows = pnames.map(function (p) { return crow('provider ' + p, S.providers[p]); });
    keys(S.suites).forEach(function (k) { crows.push(crow('suite ' + k, S.suites[k])); });
    crows.push(crow('total', o));
    add(cs, table(null, ['group', 'attempts', 'input tokens', 'output tokens', 'cost', 'judge cost'], crows, 'cost-table'));
    if (D.run && D.run.max_cost_usd !== undefined) add(cs, h('p', { class: 'note', text: 'budget ' + usd(D.run.max_cost_usd) }));
  }

  // ---- security: the adversarial pack.
  if (keys(S.attacks).length) {
    var ss = section('security', 'Security');
    var arow = function (name, c) {
      var ran = c.passed + c.failed;
      return [name, c.total, c.failed, c.errored, ran ? pct(c.failed / ran) : '–'];
    };
    add(ss, table('Per attack category (a failed case is a successful attack)', ['category', 'cases', 'successful attacks', 'errors', 'attack success rate'],
      keys(S.attacks).map(function (k) { return arow(k, S.attacks[k]); }), 'attack-table'));
    if (keys(S.owasp).length) {
      add(ss, table('Per OWASP LLM Top 10 id', ['id', 'cases', 'successful attacks', 'errors', 'attack success rate'],
        keys(S.owasp).map(function (k) { return arow(k, S.owasp[k]); })));
    }
  }

  var done = performance.now();
  window.evalgateReport = { cases: CASES.length, scriptStart: t0, firstRender: firstRender, done: done };
  document.documentElement.setAttribute('data-rendered', 'true');
})();
