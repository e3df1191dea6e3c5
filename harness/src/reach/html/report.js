(function () {
  'use strict';
  var cells = JSON.parse(document.getElementById('cells').textContent);
  var kind = document.body.getAttribute('data-kind');
  var grid = document.getElementById('grid');
  var detail = document.getElementById('detail');
  var pinned = null;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function whyList(why) {
    var ol = el('ol', 'why');
    if (!why.length) ol.appendChild(el('li', 'none', 'nothing traced: no rule chain saw the probe'));
    why.forEach(function (w) {
      var li = el('li');
      li.appendChild(el('span', 'rule', (w.node ? w.node + ': ' : '') + w.table + ' ' + w.chain + ': ' + w.rule));
      li.appendChild(el('span', 'verdict', ' (' + w.verdict + (w.answer ? ' of the answer' : '') + ')'));
      if (w.source) {
        li.appendChild(document.createTextNode(' from '));
        li.appendChild(el('code', 'src', w.source));
      }
      ol.appendChild(li);
    });
    return ol;
  }
  function side(title, r) {
    var s = el('div', 'side');
    s.appendChild(el('h3', null, title));
    if (!r) { s.appendChild(el('p', 'none', '(not probed)')); return s; }
    var nat = r.why.some(function (w) { return w.verdict === 'nat'; });
    s.appendChild(el('p', 'outcome o-' + r.outcome + (nat ? ' nat' : ''), r.outcome + (nat ? ' (NAT)' : '')));
    if (r.seen_src) s.appendChild(el('p', 'seen', 'the server saw ' + r.seen_src + ' -> ' + r.seen_dst));
    s.appendChild(el('h4', null, 'why'));
    s.appendChild(whyList(r.why));
    return s;
  }
  function highlight(c) {
    Array.prototype.forEach.call(document.querySelectorAll('.hl-src,.hl-dst'), function (e) {
      e.classList.remove('hl-src'); e.classList.remove('hl-dst');
    });
    if (!c) return;
    Array.prototype.forEach.call(document.querySelectorAll('[data-node],[data-bridge]'), function (g) {
      if (g.getAttribute('data-node') === c.from) g.classList.add('hl-src');
      if ((' ' + g.getAttribute('data-addrs') + ' ').indexOf(' ' + c.ip + ' ') >= 0) g.classList.add('hl-dst');
    });
  }
  function show(i) {
    var c = cells[i];
    detail.textContent = '';
    detail.appendChild(el('h2', null, c.from + ' -> ' + c.to));
    if (kind === 'diff') {
      detail.appendChild(el('p', 'change', {changed: 'changed', why: 'same outcome, decided by another rule',
        added: 'probed only after', removed: 'probed only before', same: 'unchanged'}[c.change]));
      detail.appendChild(side('before', c.before));
      detail.appendChild(side('after', c.after));
    } else {
      detail.appendChild(side('outcome', c.row));
    }
    if (c.trace) {
      detail.appendChild(el('h4', null, 'trace, hook by hook'));
      detail.appendChild(el('pre', 'trace', c.trace));
    } else {
      detail.appendChild(el('p', 'hint', 'hook by hook: netrig trace TOPOLOGY --from ' + c.from + ' --to ' + c.to));
    }
    highlight(c);
  }
  function cellOf(e) {
    var t = e.target;
    while (t && t !== grid) {
      if (t.tagName === 'TD' && t.classList.contains('cell')) return t;
      t = t.parentNode;
    }
    return null;
  }
  grid.addEventListener('mouseover', function (e) {
    var td = cellOf(e);
    if (td && !pinned) show(+td.getAttribute('data-i'));
  });
  grid.addEventListener('click', function (e) {
    var td = cellOf(e);
    if (!td) return;
    if (pinned) pinned.classList.remove('sel');
    if (pinned === td) { pinned = null; return; }
    pinned = td;
    td.classList.add('sel');
    show(+td.getAttribute('data-i'));
  });
  function value(id) { return document.getElementById(id).value; }
  function outcomeMatches(c, want) {
    if (kind === 'diff') {
      if (want === 'changed') return c.change === 'changed' || c.change === 'added' || c.change === 'removed';
      if (want === 'why') return c.change === 'why';
    }
    var r = c.row || c.after || c.before;
    var nat = r.why.some(function (w) { return w.verdict === 'nat'; });
    return want === 'nat' ? r.outcome === 'delivered' && nat : r.outcome === want;
  }
  function apply() {
    var src = value('f-src'), dst = value('f-dst').toLowerCase(), proto = value('f-proto'), out = value('f-out');
    var showCol = [], shown = 0;
    Array.prototype.forEach.call(grid.querySelectorAll('th.col'), function (th) {
      var ok = (!dst || th.getAttribute('data-to').toLowerCase().indexOf(dst) >= 0) &&
        (!proto || th.getAttribute('data-p') === proto);
      showCol[+th.getAttribute('data-j')] = ok;
      th.hidden = !ok;
    });
    Array.prototype.forEach.call(grid.querySelectorAll('tbody tr'), function (tr) {
      tr.hidden = !!src && tr.getAttribute('data-src') !== src;
      Array.prototype.forEach.call(tr.querySelectorAll('td'), function (td) {
        td.hidden = !showCol[+td.getAttribute('data-j')];
        if (!td.classList.contains('cell')) return;
        var match = !out || outcomeMatches(cells[+td.getAttribute('data-i')], out);
        td.classList.toggle('dim', !match);
        if (match && !td.hidden && !tr.hidden) shown++;
      });
    });
    document.getElementById('shown').textContent = shown + ' of ' + cells.length + ' cells';
  }
  ['f-src', 'f-proto', 'f-out'].forEach(function (id) { document.getElementById(id).addEventListener('change', apply); });
  document.getElementById('f-dst').addEventListener('input', apply);
  apply();
  if (cells.length === 1) show(0);
  document.body.setAttribute('data-ready', '1');
})();
