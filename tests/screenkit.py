"""What a person sees on a screen, read in the browser: the checks of
tests/test_leader_screens.py (issue 30 items 3 and 4), as JavaScript snippets for
``driver.execute_script`` and pure functions over the text they return.

* :data:`SETTLED_JS` — 0 once the Dash renderer has no callback requested or running;
* :data:`TEXT_JS` — the text a person can read (visible text, chart text, placeholders);
* :func:`language_faults` — setting names, file names, paths, Python names, ``None`` /
  ``nan``, snake_case ids and Latin words outside :data:`LATIN_OK` in that text;
* :data:`CUT_JS` — text truncated or cut by its box, tables with no room for a row and,
  with ``arguments[0]`` true (the wall), anything outside the viewport;
* :data:`WALL_SIZES_JS` — sizes on the wall that must grow with the screen.
"""
from __future__ import annotations

import re

#: Latin words a leader may read: formats, the API, the wall's language switch, units.
LATIN_OK = {"API", "PDF", "Excel", "CSV", "EN", "km", "kg", "Jinjian"}

#: (what, pattern) of text that must not be visible. Patterns run over innerText.
FORBIDDEN: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("setting name", re.compile(r"JINJIAN_\w*")),
    ("file name", re.compile(r"[\w.-]*\.(?:csv|xlsx|xls|json|jsonl|py|txt|zip|geojson)\b", re.I | re.A)),
    # /work/main/…, data/demo_wall_link.txt; not grades (A/B/C/D), ratios (0/1) or units (户/日)
    ("path", re.compile(r"(?<![\w/])/(?:[A-Za-z_][\w.-]*/)+[\w.-]*|\b[a-z_][\w.-]*/[A-Za-z_][\w./-]*", re.A)),
    ("Python traceback", re.compile(r"Traceback|File \"")),
    ("None", re.compile(r"\bNone\b", re.A)),
    ("nan", re.compile(r"\b(?:nan|NaN|NaT|inf)\b", re.A)),
    ("internal id", re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b", re.A)),
)
#: A Latin word: two letters or more, not part of a code mixing letters and digits
#: (credit codes 91441900MA…, batch numbers PC00001, weeks W48 are data, not words).
LATIN_WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z]{2,}(?![A-Za-z0-9_])")

# ----------------------------------------------------------------------------- browser side
#: The page has settled: the renderer is up, no callback requested or running, nothing loading.
SETTLED_JS = """
const s = window.store;
if (!s || !document.getElementById('_pages_content')) return -1;
const cb = Object.assign({}, s.getState().callbacks); delete cb.stored; delete cb.completed;
const pending = [].concat(...Object.values(cb)).length;
return pending + document.querySelectorAll('[data-dash-is-loading="true"]').length;
"""

#: What a person can read: the page's visible text, the text drawn in its charts (SVG) and
#: the placeholders of empty input boxes.
TEXT_JS = r"""
const visible = t => {
  const r = t.getBoundingClientRect(), cs = getComputedStyle(t);
  return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none' && parseFloat(cs.opacity) !== 0;
};
const svg = Array.from(document.querySelectorAll('svg text')).filter(visible).map(t => t.textContent);
const hints = Array.from(document.querySelectorAll('input[placeholder], textarea[placeholder]'))
  .filter(i => !i.value && visible(i)).map(i => i.placeholder);
return [document.body.innerText, ...svg, ...hints].join('\n');
"""

#: Text truncated or cut by its box, tables squeezed, and on the wall anything outside the viewport.
CUT_JS = r"""
const wallMode = arguments[0];
const vw = window.innerWidth, vh = window.innerHeight;
const SKIP = '.leaflet-pane, script, style, noscript, svg *';
const own = el => Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
const name = el => {
  const cls = (typeof el.className === 'string' ? el.className : '').trim().split(/\s+/).filter(Boolean).slice(0, 3);
  return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (cls.length ? '.' + cls.join('.') : '');
};
const shown = el => (el.innerText || el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 80);
const clips = cs => ['hidden', 'clip'].includes(cs.overflowX) || ['hidden', 'clip'].includes(cs.overflowY);
const out = [];
const inGrid = el => el.closest('.ag-root-wrapper');
const GRID_TEXT = '.ag-header-cell-text, .ag-header-group-text, .ag-cell, .ag-cell-value, .ag-overlay-no-rows-center, .ag-paging-panel *';
for (const el of document.body.querySelectorAll('*')) {
  if (el.closest(SKIP)) continue;
  const r = el.getBoundingClientRect();
  if (r.width <= 1 || r.height <= 1) continue;  // nothing to see (screen-reader-only text is 1 px)
  const cs = getComputedStyle(el);
  if (cs.visibility === 'hidden' || cs.display === 'contents' || parseFloat(cs.opacity) === 0) continue;
  // 1. truncated text: an element holding text (its own, or only inline children's) clips
  //    (overflow hidden / ellipsis / nowrap) and its content is wider than its box
  const holdsText = own(el) !== '' || (el.textContent.trim() !== '' && el.children.length > 0
      && Array.from(el.children).every(c => getComputedStyle(c).display === 'inline'));
  if (holdsText && (!inGrid(el) || el.matches(GRID_TEXT))) {
    const scrolls = ['auto', 'scroll'].includes(cs.overflowX);
    const clipping = ['hidden', 'clip'].includes(cs.overflowX) || cs.textOverflow === 'ellipsis'
                     || cs.whiteSpace.startsWith('nowrap') || cs.whiteSpace === 'pre';
    if (clipping && !scrolls && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1
        && !el.matches('.leaflet-container, .js-plotly-plot, .js-plotly-plot *, .dash-graph')) {
      out.push({kind: 'truncated', el: name(el), text: shown(el), detail: el.scrollWidth + ' > ' + el.clientWidth});
    }
  }
  // 2. text cut by a box that hides its overflow (a box that scrolls is fine: the reader scrolls),
  //    and on the wall anything outside the viewport; what clips an element is every overflow-hiding
  //    ancestor on its containing-block chain (an absolute box escapes static ancestors, a fixed one all)
  if (inGrid(el) || !(own(el) || wallMode)) continue;  // tables: check 3
  let clip = wallMode ? {l: 0, t: 0, r: vw, b: vh} : {l: -1e9, t: -1e9, r: 1e9, b: 1e9}, pos = cs.position;
  for (let a = el.parentElement; a && a !== document.documentElement && pos !== 'fixed'; a = a.parentElement) {
    const as = getComputedStyle(a);
    if (pos === 'absolute' && as.position === 'static' && as.transform === 'none') continue;
    if (['auto', 'scroll'].includes(as.overflowX) || ['auto', 'scroll'].includes(as.overflowY)) break;
    if (clips(as)) {
      const q = a.getBoundingClientRect();
      clip = {l: Math.max(clip.l, q.left), t: Math.max(clip.t, q.top), r: Math.min(clip.r, q.right), b: Math.min(clip.b, q.bottom)};
    }
    pos = as.position;
  }
  const seen = Math.min(r.right, clip.r) - Math.max(r.left, clip.l) > 1 && Math.min(r.bottom, clip.b) - Math.max(r.top, clip.t) > 1;
  if (!seen) continue;  // clipped wholly out of sight (a ticker line that did not fit)
  const box = `${Math.round(r.left)},${Math.round(r.top)}–${Math.round(r.right)},${Math.round(r.bottom)}`;
  if (wallMode && (r.left < -1 || r.top < -1 || r.right > vw + 1 || r.bottom > vh + 1)) {
    out.push({kind: 'outside the viewport', el: name(el), text: shown(el), detail: box + ' of ' + vw + '×' + vh});
  } else if (own(el) && (r.left < clip.l - 1 || r.top < clip.t - 1 || r.right > clip.r + 1 || r.bottom > clip.b + 1)) {
    out.push({kind: 'cut by its box', el: name(el), text: shown(el), detail: box});
  }
}
// 3. tables: each shows at least its header and one row (or its "no rows" note)
for (const g of document.querySelectorAll('.ag-root-wrapper')) {
  const r = g.getBoundingClientRect();
  if (r.width <= 1 || getComputedStyle(g).visibility === 'hidden') continue;
  const head = g.querySelector('.ag-header'), row = g.querySelector('.ag-row');
  const need = (head ? head.getBoundingClientRect().height : 0) + (row ? Math.min(row.getBoundingClientRect().height, 30) : 30);
  if (r.height + 1 < need) {
    const headers = Array.from(g.querySelectorAll('.ag-header-cell-text')).map(e => e.textContent).join(' ');
    out.push({kind: 'table squeezed', el: name(g.parentElement.closest('[id]') || g), text: headers.slice(0, 80),
              detail: `${Math.round(r.height)} px high, its header and first row need ${Math.round(need)}`});
  }
}
return out;
"""

#: Sizes on the wall that must grow with the screen (CSS px of the rendered page).
WALL_SIZES_JS = r"""
const px = (sel, prop) => { const e = document.querySelector(sel); return e ? parseFloat(getComputedStyle(e)[prop]) : null; };
const box = (sel, dim) => { const e = document.querySelector(sel); return e ? e.getBoundingClientRect()[dim] : null; };
const tick = document.querySelector('#wall-trend-day .xtick text');
return {
  'base font': px('#wall-root', 'fontSize'), 'tile title font': px('.kpi-title', 'fontSize'),
  'tile value font': px('.kpi-value', 'fontSize'), 'ticker font': px('.ticker-item', 'fontSize'),
  'legend font': px('#wall-legend', 'fontSize'), 'legend width': box('#wall-legend', 'width'),
  'legend height': box('#wall-legend', 'height'),
  'zoom button width': box('.leaflet-control-zoom-in', 'width'), 'zoom button font': px('.leaflet-control-zoom-in', 'fontSize'),
  'map indicator font': px('#wall-map-indicator', 'fontSize'),
  'chart tick font': tick ? parseFloat(tick.style.fontSize || getComputedStyle(tick).fontSize) : null,
};
"""


def language_faults(text: str) -> list[tuple[str, str]]:
    """(what, offending text with context) for every forbidden piece of ``text``."""
    found: list[tuple[str, str]] = []
    taken: list[range] = []  # a Latin word inside something already reported is not reported again
    for what, pattern in FORBIDDEN:
        for m in pattern.finditer(text):
            found.append((what, _context(text, m)))
            taken.append(range(m.start(), m.end()))
    for m in LATIN_WORD.finditer(text):
        if m.group(0) not in LATIN_OK and not any(m.start() in r for r in taken):
            found.append(("Latin word", _context(text, m)))
    return found


def _context(text: str, m: re.Match[str]) -> str:
    left = text[max(0, m.start() - 20):m.start()].replace("\n", " ⏎ ")
    right = text[m.end():m.end() + 20].replace("\n", " ⏎ ")
    return f"{m.group(0)!r} in “…{left}[{m.group(0)}]{right}…”"
