// nndl serve's page: draw, look inside, browse the test set, watch training. Plain JS, no
// dependencies; it speaks only to the API of docs/serve-api.md on its own origin.
'use strict';

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const fmt = (v, d = 3) => (v === null || v === undefined ? '–' : Number(v).toFixed(d));

/** JSON from the API; throws an Error carrying the server's one-line message. */
async function api(path, options = {}) {
  const init = { ...options };
  if (init.json !== undefined) {
    init.method = init.method || 'POST';
    init.headers = { 'Content-Type': 'application/json' };
    init.body = JSON.stringify(init.json);
    delete init.json;
  }
  const res = await fetch(path, init);
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = new Error((body && body.error) || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

const state = {
  view: 'draw',
  models: [],
  model: null,          // the model chosen for Inside and Test set
  strokes: [],          // [{points: [[x, y], ...]}] in pad pixels (280 × 280)
  base: null,           // a test digit sent to the pad: {values, shape}
  result: null,         // the last /api/predict answer
  latencies: [],
};
const modelInfo = (name) => state.models.find((m) => m.name === name);

// ---------------------------------------------------------------- colours

/** Activations → 0..1 brightness: as they are when in [0, 1], else scaled by the layer's range. */
function normaliser(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (v !== null) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!(hi > lo)) return () => (hi > 0 ? 1 : 0);
  if (lo >= 0 && hi <= 1) return (v) => v ?? 0;
  if (lo >= 0) return (v) => (v ?? 0) / hi;
  return (v) => ((v ?? lo) - lo) / (hi - lo);
}
/** A brightness 0..1 as a warm ramp: black → ember → gold → white. */
function heat(t) {
  t = Math.max(0, Math.min(1, t));
  return [Math.min(255, 255 * t * 1.6), Math.max(0, Math.min(255, 255 * (t * 1.5 - 0.35))), Math.max(0, 255 * (t * 2.2 - 1.2))];
}
/** A weight on a diverging scale: blue (negative) → black → red (positive). */
function diverging(v, m) {
  const t = Math.max(-1, Math.min(1, (v ?? 0) / (m || 1)));
  return t < 0 ? [40 * -t, 110 * -t, 255 * -t] : [255 * t, 80 * t, 40 * t];
}
const grey = (t) => { const g = 255 * Math.max(0, Math.min(1, t)); return [g, g, g]; };

/** Paints a [c, h, w] image (channels side by side, 1 px apart) into a canvas at 1 px a value. */
function paintShaped(canvas, shape, values, colour) {
  const [c, h, w] = shape;
  const width = c * w + (c - 1);
  canvas.width = width; canvas.height = h;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(width, h);
  img.data.fill(0);
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const [r, g, b] = colour(values[(ch * h + y) * w + x]);
        const o = (y * width + ch * (w + 1) + x) * 4;
        img.data[o] = r; img.data[o + 1] = g; img.data[o + 2] = b; img.data[o + 3] = 255;
      }
  ctx.putImageData(img, 0, 0);
}
/** A flat vector's shape for drawing: a square image when it is one (784 → 28×28), else near-square. */
function drawShape(shape) {
  const [c, h, w] = shape;
  if (h > 1 || w > 1) return shape;
  const side = Math.round(Math.sqrt(c));
  if (side * side === c) return [1, side, side];
  const cols = Math.ceil(Math.sqrt(c));
  return [1, Math.ceil(c / cols), cols];
}
function padTo(values, n) {
  if (values.length >= n) return values;
  const out = Array.from(values); while (out.length < n) out.push(null); return out;
}

// ---------------------------------------------------------------- views, theme, models

function showView(view, focus = false) {
  state.view = view;
  document.body.dataset.view = view;
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.dataset.view === view;
    tab.setAttribute('aria-selected', on);
    tab.tabIndex = on ? 0 : -1;
    if (on && focus) tab.focus();
  }
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== `view-${view}`;
  if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
  if (view === 'draw' || view === 'inside') predictSoon();
  if (view === 'test') loadConfusion();
  if (view === 'train') drawCharts();
}
function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener('click', () => showView(tab.dataset.view));
    tab.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(tab);
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      showView(tabs[(to + tabs.length) % tabs.length].dataset.view, true);
    });
  }
}
function setupTheme() {
  const saved = localStorage.getItem('nndl-theme');
  if (saved) document.documentElement.dataset.theme = saved;
  $('theme').addEventListener('click', () => {
    const dark = css('--pad-bg') === '#000000';
    const next = dark ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    localStorage.setItem('nndl-theme', next);
    redrawPad(); drawCharts();
  });
}
function banner(text) { $('banner').textContent = text || ''; $('banner').hidden = !text; }

async function loadModels() {
  try {
    state.models = (await api('/api/models')).models;
  } catch (e) {
    banner(`Could not list the models: ${e.message}`);
    return;
  }
  const select = $('model');
  const keep = state.model;
  select.replaceChildren(...state.models.map((m) => el('option', { value: m.name, text: m.name })));
  state.model = modelInfo(keep) ? keep : state.models.find((m) => m.reads_images)?.name ?? state.models[0]?.name ?? null;
  if (state.model) select.value = state.model;
  select.disabled = state.models.length === 0;
  banner(state.models.length || run.run ? '' : 'No model loaded yet: start `nndl serve MODEL.safetensors`, or train one in the Training view.');
  $('draw-hint').hidden = state.models.length > 0 && (state.strokes.length > 0 || state.base);
}

// ---------------------------------------------------------------- the pad

const pad = $('canvas');
const padCtx = pad.getContext('2d');
const INK = 18;

function strokeSegment(points, from) {
  padCtx.strokeStyle = css('--pad-ink');
  padCtx.fillStyle = css('--pad-ink');
  padCtx.lineWidth = INK; padCtx.lineCap = 'round'; padCtx.lineJoin = 'round';
  if (points.length === 1) {
    padCtx.beginPath(); padCtx.arc(points[0][0], points[0][1], INK / 2, 0, 2 * Math.PI); padCtx.fill();
    return;
  }
  padCtx.beginPath();
  padCtx.moveTo(...points[Math.max(0, from - 1)]);
  for (let i = Math.max(1, from); i < points.length; i++) padCtx.lineTo(...points[i]);
  padCtx.stroke();
}
function redrawPad() {
  padCtx.fillStyle = css('--pad-bg');
  padCtx.fillRect(0, 0, pad.width, pad.height);
  if (state.base) {
    const [, h, w] = state.base.shape;
    const bg = hexRgb(css('--pad-bg')), ink = hexRgb(css('--pad-ink'));
    const tmp = el('canvas');
    paintShaped(tmp, [1, h, w], state.base.values, (t) => bg.map((b, i) => b + (ink[i] - b) * t));
    padCtx.imageSmoothingEnabled = true;
    padCtx.drawImage(tmp, 0, 0, pad.width, pad.height);
  }
  for (const s of state.strokes) strokeSegment(s.points, 0);
}
function hexRgb(hex) {
  const h = hex.replace('#', '');
  const n = parseInt(h.length === 3 ? h.replace(/./g, '$&$&') : h, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) / r.width) * pad.width, ((e.clientY - r.top) / r.height) * pad.height];
}
function setupPad() {
  let drawing = null;
  pad.addEventListener('pointerdown', (e) => {
    if (e.button !== 0 && e.pointerType === 'mouse') return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    drawing = { points: [padPoint(e)], id: e.pointerId };
    state.strokes.push(drawing);
    strokeSegment(drawing.points, 0);
    $('draw-hint').hidden = true;
    predictSoon();
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing || e.pointerId !== drawing.id) return;
    const from = drawing.points.length;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const c of events.length ? events : [e]) drawing.points.push(padPoint(c));
    strokeSegment(drawing.points, from);
    predictSoon();
  });
  const end = (e) => {
    if (!drawing || e.pointerId !== drawing.id) return;
    drawing = null;
    predictSoon();
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
  $('undo').addEventListener('click', undo);
  $('clear').addEventListener('click', clearPad);
  document.addEventListener('keydown', (e) => {
    if (e.target.closest('input, select, textarea')) return;
    if ((e.ctrlKey || e.metaKey) && e.key === 'z') { e.preventDefault(); undo(); }
    else if (e.key === 'Escape' && (state.view === 'draw' || state.view === 'inside')) clearPad();
  });
  redrawPad();
}
function undo() {
  if (state.strokes.length) state.strokes.pop(); else state.base = null;
  redrawPad(); predictSoon();
}
function clearPad() {
  state.strokes = []; state.base = null;
  redrawPad(); predictSoon();
}
/** Puts a test digit on the pad and shows the Draw view. */
function sendToPad(values, shape, model) {
  state.strokes = [];
  state.base = { values, shape, model };
  redrawPad();
  $('draw-hint').hidden = true;
  showView('draw');
}

// ---------------------------------------------------------------- predicting as you draw

let inFlight = false, dirty = false;
/** Asks for a prediction now, or as soon as the one in flight answers (never two at once). */
function predictSoon() {
  dirty = true;
  if (!inFlight) predict();
}
async function predict() {
  dirty = false;
  if (!state.strokes.length && !state.base) { showBlank(); return; }
  if (!state.models.some((m) => m.reads_images)) return;
  inFlight = true;
  document.body.dataset.predicting = '1';
  const t0 = performance.now();
  const inside = state.view === 'inside';
  const body = { layers: inside };
  if (inside && state.model) body.model = state.model;
  if (!state.strokes.length && state.base) {
    const [, h, w] = state.base.shape;
    // A digit goes through predict's preprocessing for every model; another image, as it is, to its own.
    if (modelInfo(state.base.model)?.digits !== false) Object.assign(body, { pixels: state.base.values, width: w, height: h });
    else Object.assign(body, { pixels: state.base.values, model: state.base.model });
  } else {
    body.image = pad.toDataURL('image/png');
  }
  try {
    const answer = await api('/api/predict', { json: body });
    state.result = answer;
    showAnswers(answer, inside);
    if (inside) showLayers(answer);
    const ms = performance.now() - t0;
    state.latencies.push(ms);
    if (state.latencies.length > 200) state.latencies.shift();
    const sorted = [...state.latencies].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const lat = $('latency');
    lat.textContent = `${ms.toFixed(1)} ms · median ${median.toFixed(1)} ms of ${sorted.length} · server ${(answer.micros / 1000).toFixed(1)} ms`;
    lat.dataset.ms = ms.toFixed(2);
    lat.dataset.median = median.toFixed(2);
  } catch (e) {
    $('latency').textContent = e.message;
  } finally {
    inFlight = false;
    document.body.dataset.answered = String(+(document.body.dataset.answered || 0) + 1);
    if (dirty) predict(); else document.body.dataset.predicting = '0';
  }
}
function showBlank() {
  state.result = null;
  for (const card of document.querySelectorAll('.answer')) {
    card.querySelector('.digit').textContent = '·';
    card.dataset.prediction = '';
    for (const f of card.querySelectorAll('.fill')) f.style.width = '0';
    for (const r of card.querySelectorAll('.best')) r.classList.remove('best');
  }
  const seen = $('seen');
  seen.getContext('2d').clearRect(0, 0, seen.width, seen.height);
}

function answerCard(name) {
  let card = document.querySelector(`.answer[data-model="${CSS.escape(name)}"]`);
  if (card) return card;
  const info = modelInfo(name) || { classes: [], arch: '' };
  const bars = el('div', { class: 'bars', role: 'list', 'aria-label': `${name}'s outputs` });
  info.classes.forEach((c, i) => {
    bars.append(
      el('span', { 'data-i': i, text: c }),
      el('div', { class: 'track', 'data-i': i, role: 'listitem', 'aria-label': `class ${c}` }, el('div', { class: 'fill' })),
      el('span', { 'data-i': i, class: 'value', text: '' }),
    );
  });
  const acc = info.test_accuracy ? ` · test ${(100 * info.test_accuracy).toFixed(2)}%` : '';
  card = el('article', { class: 'answer', 'data-model': name },
    el('h2', { text: name }),
    el('p', { class: 'arch', text: `${info.arch}${acc}` }),
    el('div', { class: 'guess' }, el('span', { class: 'digit', 'aria-live': 'polite', text: '·' }), el('span', { class: 'small', text: 'prediction' })),
    bars);
  $('answers').append(card);
  return card;
}
function showAnswers(answer, inside) {
  const shown = new Set();
  for (const r of answer.results) {
    shown.add(r.model);
    const card = answerCard(r.model);
    card.querySelector('.digit').textContent = r.class;
    card.dataset.prediction = r.prediction;
    card.dataset.class = r.class;
    const top = Math.max(1, ...r.output.map((v) => v ?? 0));
    for (const item of card.querySelectorAll('.bars [data-i]')) {
      const i = +item.dataset.i, v = r.output[i];
      item.classList.toggle('best', i === r.prediction);
      if (item.classList.contains('track')) item.firstChild.style.width = `${(100 * Math.max(0, v ?? 0)) / top}%`;
      if (item.classList.contains('value')) item.textContent = fmt(v, 3);
    }
  }
  if (!inside) for (const card of document.querySelectorAll('.answer')) if (!shown.has(card.dataset.model)) card.remove();
  const mine = answer.results.find((r) => r.model === state.model) || answer.results[0];
  if (mine) {
    const seen = $('seen');
    paintShaped(seen, mine.input.shape[0] === 3 ? mine.input.shape : [1, mine.input.shape[1], mine.input.shape[2]], mine.input.values, grey);
    seen.dataset.model = mine.model;
  }
}

// ---------------------------------------------------------------- inside the network

const inside = { model: null, views: [], focus: null };

/** How a layer's output is drawn: 'grid' of neurons, feature 'maps', or a 'seq' heat map. */
function layerLayout(kind, shape) {
  const [c, h, w] = shape;
  if (kind === 'rnn' || kind === 'lstm' || kind === 'timedense') {
    const steps = h, units = w;
    const cw = Math.max(2, Math.min(14, Math.floor(640 / units))), ch = Math.max(4, Math.min(12, Math.floor(300 / steps)));
    return { type: 'seq', count: steps * units, cell: [cw, ch], cols: units, rows: steps };
  }
  if (h * w === 1) {
    const cols = c <= 10 ? c : Math.ceil(Math.sqrt(c * 2));
    const cell = Math.max(6, Math.min(30, Math.floor(560 / cols)));
    return { type: 'grid', count: c, cell: [cell, cell], cols, rows: Math.ceil(c / cols) };
  }
  const scale = Math.max(1, Math.min(6, Math.floor(72 / Math.max(h, w))));
  const mw = w * scale + 4, mh = h * scale + 4;
  const cols = Math.max(1, Math.min(c, Math.floor(640 / mw)));
  return { type: 'maps', count: c * h * w, scale, mw, mh, cols, rows: Math.ceil(c / cols), c, h, w };
}
/** Which output a canvas point is on: the index into the layer's values, or -1. */
function layerHit(view, x, y) {
  const L = view.layout;
  if (L.type === 'maps') {
    const col = Math.floor(x / L.mw), row = Math.floor(y / L.mh);
    const f = row * L.cols + col;
    const px = Math.floor((x - col * L.mw - 2) / L.scale), py = Math.floor((y - row * L.mh - 2) / L.scale);
    if (col >= L.cols || f >= L.c || px < 0 || py < 0 || px >= L.w || py >= L.h) return -1;
    return (f * L.h + py) * L.w + px;
  }
  const col = Math.floor(x / L.cell[0]), row = Math.floor(y / L.cell[1]);
  const i = row * L.cols + col;
  return col < L.cols && i < L.count ? i : -1;
}
function drawLayer(view) {
  const { canvas, layout: L, data } = view;
  const a = data ? data.a : [];
  const norm = normaliser(a);
  const ctx = canvas.getContext('2d');
  if (L.type === 'maps') {
    canvas.width = L.cols * L.mw; canvas.height = L.rows * L.mh;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const img = ctx.createImageData(L.w, L.h);
    const tmp = view.tmp || (view.tmp = el('canvas', { width: L.w, height: L.h }));
    const tctx = tmp.getContext('2d');
    ctx.imageSmoothingEnabled = false;
    for (let f = 0; f < L.c; f++) {
      for (let p = 0; p < L.h * L.w; p++) {
        const [r, g, b] = heat(norm(a[f * L.h * L.w + p]));
        img.data[4 * p] = r; img.data[4 * p + 1] = g; img.data[4 * p + 2] = b; img.data[4 * p + 3] = 255;
      }
      tctx.putImageData(img, 0, 0);
      ctx.drawImage(tmp, (f % L.cols) * L.mw + 2, Math.floor(f / L.cols) * L.mh + 2, L.w * L.scale, L.h * L.scale);
    }
  } else {
    const [cw, ch] = L.cell, gap = cw >= 6 && L.type === 'grid' ? 1 : 0;
    canvas.width = L.cols * cw; canvas.height = L.rows * ch;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (let i = 0; i < L.count; i++) {
      const [r, g, b] = heat(norm(a[i]));
      ctx.fillStyle = `rgb(${r | 0},${g | 0},${b | 0})`;
      ctx.fillRect((i % L.cols) * cw, Math.floor(i / L.cols) * ch, cw - gap, ch - gap);
    }
    if (view.labels && cw >= 14) {
      ctx.font = `${Math.min(14, cw - 6)}px system-ui, sans-serif`;
      ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
      view.labels.forEach((t, i) => {
        ctx.fillStyle = norm(a[i]) > 0.55 ? '#000' : '#ccc';
        ctx.fillText(t, (i % L.cols) * cw + cw / 2, Math.floor(i / L.cols) * ch + ch / 2, cw - 4);
      });
    }
  }
  if (view.selected >= 0 && inside.focus === view) {
    ctx.strokeStyle = '#36c2ff'; ctx.lineWidth = 2;
    const i = view.selected;
    if (L.type === 'maps') {
      const f = Math.floor(i / (L.h * L.w));
      ctx.strokeRect((f % L.cols) * L.mw + 1, Math.floor(f / L.cols) * L.mh + 1, L.mw - 2, L.mh - 2);
      const p = i % (L.h * L.w);
      ctx.strokeStyle = '#fff'; ctx.lineWidth = 1;
      ctx.strokeRect((f % L.cols) * L.mw + 2 + (p % L.w) * L.scale - 0.5, Math.floor(f / L.cols) * L.mh + 2 + Math.floor(p / L.w) * L.scale - 0.5, L.scale + 1, L.scale + 1);
    } else {
      ctx.strokeRect((i % L.cols) * L.cell[0] + 1, Math.floor(i / L.cols) * L.cell[1] + 1, L.cell[0] - 2, L.cell[1] - 2);
    }
  }
}
function buildInside(info) {
  inside.model = info.name;
  inside.views = [];
  inside.focus = null;
  const box = $('layers');
  box.replaceChildren();
  box.dataset.model = info.name;
  const inShape = info.input;
  const views = [{ index: -1, kind: 'input', description: 'input', out_shape: inShape, has_weights: false }, ...info.layers];
  for (const layer of views) {
    const shape = layer.kind === 'rnn' || layer.kind === 'lstm' || layer.kind === 'timedense' ? null : layer.out_shape;
    const canvas = el('canvas', { tabindex: 0, 'data-layer': layer.index, role: 'img' });
    const title = layer.index < 0 ? `input ${inShape.join('×')}` : `layer ${layer.index}: ${layer.description}`;
    const head = el('h3', {}, title, el('span', { class: 'small', text: shape ? `→ ${shape.join('×')}` : '→ steps × units' }));
    const section = el('section', { class: 'layer', 'data-kind': layer.kind }, head, canvas);
    canvas.setAttribute('aria-label', `${title}: point at a neuron or use the arrow keys`);
    box.append(section);
    const view = { layer, canvas, layout: null, data: null, selected: -1 };
    if (layer.index === info.layers.length - 1 && layer.out_shape[0] === info.classes.length) view.labels = info.classes;
    inside.views.push(view);
    canvas.addEventListener('pointermove', (e) => {
      if (!view.layout) return;
      const r = canvas.getBoundingClientRect();
      const i = layerHit(view, ((e.clientX - r.left) / r.width) * canvas.width, ((e.clientY - r.top) / r.height) * canvas.height);
      if (i >= 0 && i !== view.selected) selectNeuron(view, i);
    });
    canvas.addEventListener('focus', () => { if (view.layout) selectNeuron(view, Math.max(0, view.selected)); });
    canvas.addEventListener('keydown', (e) => {
      if (!view.layout) return;
      const L = view.layout;
      const cols = L.type === 'maps' ? L.w : L.cols;
      const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols, PageDown: L.type === 'maps' ? L.h * L.w : cols * 4, PageUp: L.type === 'maps' ? -L.h * L.w : -cols * 4 }[e.key];
      if (step === undefined) return;
      e.preventDefault();
      selectNeuron(view, Math.max(0, Math.min(L.count - 1, Math.max(0, view.selected) + step)));
    });
  }
}
function showLayers(answer) {
  const r = answer.results.find((x) => x.model === state.model) || answer.results[0];
  if (!r || !r.layers) return;
  const info = modelInfo(r.model);
  if (!info) return;
  if (inside.model !== info.name) buildInside(info);
  const datas = [{ index: -1, kind: 'input', shape: r.input.shape, z: null, a: r.input.values }, ...r.layers];
  inside.views.forEach((view, k) => {
    const d = datas[k];
    if (!d) return;
    if (!view.layout || view.data?.shape.join() !== d.shape.join()) view.layout = layerLayout(view.layer.kind, d.shape);
    view.data = d;
    drawLayer(view);
    if (!view.layout) return;
  });
  if (inside.focus) describeNeuron(inside.focus, false);
}
let weightsAsked = 0;
function selectNeuron(view, i) {
  const before = inside.focus;
  inside.focus = view;
  view.selected = i;
  if (before && before !== view) drawLayer(before);
  drawLayer(view);
  describeNeuron(view, true);
}
/** The neuron's z and a now; its incoming weights (fetched when it changes). */
async function describeNeuron(view, fetchWeights) {
  const { layer, layout: L, data, selected: i } = view;
  if (!data || i < 0) return;
  const info = $('neuron-info');
  let where, neuron;
  if (L.type === 'maps') {
    const per = L.h * L.w, f = Math.floor(i / per), p = i % per;
    where = `${layer.kind === 'input' ? 'channel' : 'map'} ${f}, row ${Math.floor(p / L.w)}, column ${p % L.w}`;
    neuron = f;
  } else if (L.type === 'seq') {
    where = `step ${Math.floor(i / L.cols)}, unit ${i % L.cols}`;
    neuron = i % L.cols;
  } else {
    const cls = modelInfo(inside.model)?.classes;
    const last = layer.index === modelInfo(inside.model)?.layers.length - 1;
    where = `neuron ${i}${last && cls ? ` (class ${cls[i]})` : ''}`;
    neuron = i;
  }
  const z = data.z ? data.z[i] : null;
  const name = layer.index < 0 ? 'input' : `layer ${layer.index} (${layer.description})`;
  const zText = data.z ? `z = ${fmt(z, 4)}, ` : '';
  info.dataset.layer = layer.index;
  info.dataset.neuron = neuron;
  $('neuron-text').textContent = `${name}, ${where}: ${zText}a = ${fmt(data.a[i], 4)}`;
  if (!fetchWeights) return;
  const canvas = $('neuron-weights');
  if (!layer.has_weights) {
    canvas.hidden = true;
    info.dataset.weights = 'none';
    return;
  }
  const ask = ++weightsAsked;
  try {
    const w = await api(`/api/models/${encodeURIComponent(inside.model)}/weights?layer=${layer.index}&neuron=${neuron}`);
    if (ask !== weightsAsked) return;
    const shape = drawShape(w.shape);
    const m = Math.max(Math.abs(w.min), Math.abs(w.max));
    paintShaped(canvas, shape, padTo(w.weights, shape[0] * shape[1] * shape[2]), (v) => diverging(v, m));
    canvas.style.width = `${Math.min(360, 84 * shape[0])}px`;
    canvas.style.height = `${Math.max(24, Math.min(84, (84 * shape[1]) / Math.max(shape[1], shape[2])))}px`;
    canvas.hidden = false;
    canvas.title = `weights into ${where}: blue negative, red positive, from ${fmt(w.min)} to ${fmt(w.max)}; bias ${fmt(w.bias)}`;
    $('neuron-text').textContent += ` · bias ${fmt(w.bias, 3)} · weights ${fmt(w.min, 2)} … ${fmt(w.max, 2)} (blue −, red +)`;
    info.dataset.weights = 'shown';
  } catch (e) {
    if (ask !== weightsAsked) return;
    canvas.hidden = true;
    info.dataset.weights = 'error';
    $('neuron-text').textContent += ` · weights: ${e.message}`;
  }
}

// ---------------------------------------------------------------- the test set

let confusionFor = null;
async function loadConfusion(force = false) {
  if (!state.model || (!force && confusionFor === state.model)) return;
  const model = state.model;
  confusionFor = model;
  const box = $('confusion');
  box.replaceChildren(el('p', { class: 'small', text: 'Classifying the test set…' }));
  $('examples').replaceChildren();
  $('examples-title').textContent = 'Examples';
  let c;
  try {
    c = await api(`/api/testset/confusion?model=${encodeURIComponent(model)}`);
  } catch (e) {
    confusionFor = null;
    box.replaceChildren(el('p', { class: 'error', text: e.message }));
    return;
  }
  if (state.model !== model) return;
  $('confusion-summary').textContent = `${model}: ${c.correct} of ${c.total} right (${(100 * c.accuracy).toFixed(2)}%), classified in ${(c.micros / 1000).toFixed(0)} ms`;
  let offMax = 1;
  c.matrix.forEach((row, t) => row.forEach((n, p) => { if (t !== p) offMax = Math.max(offMax, n); }));
  const table = el('table', { 'aria-label': 'Confusion matrix: rows are labels, columns are answers' });
  table.append(el('tr', {}, el('th', { text: 'label ╲ answer' }), ...c.classes.map((k) => el('th', { scope: 'col', text: k }))));
  c.matrix.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    const tr = el('tr', {}, el('th', { scope: 'row', text: c.classes[t] }));
    row.forEach((n, p) => {
      const share = t === p ? n / total : Math.sqrt(n / offMax);
      const colour = t === p ? `rgba(46, 160, 90, ${0.15 + 0.7 * share})` : `rgba(220, 70, 60, ${n ? 0.12 + 0.75 * share : 0})`;
      const b = el('button', {
        type: 'button', 'data-label': t, 'data-predicted': p, 'aria-pressed': 'false',
        'aria-label': `label ${c.classes[t]} answered ${c.classes[p]}: ${n} digits`, text: n,
      });
      b.style.background = colour;
      if (!n) b.disabled = true;
      b.addEventListener('click', () => {
        for (const o of table.querySelectorAll('[aria-pressed="true"]')) o.setAttribute('aria-pressed', 'false');
        b.setAttribute('aria-pressed', 'true');
        loadExamples(model, t, p, c.classes);
      });
      tr.append(el('td', {}, b));
    });
    table.append(tr);
  });
  box.replaceChildren(table);
}
async function loadExamples(model, label, predicted, classes) {
  const box = $('examples');
  box.replaceChildren(el('p', { class: 'small', text: 'Loading…' }));
  let ex;
  try {
    ex = await api(`/api/testset/examples?model=${encodeURIComponent(model)}&label=${label}&predicted=${predicted}&limit=120`);
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error', text: e.message }));
    return;
  }
  $('examples-title').textContent = `Label ${classes[label]} answered ${classes[predicted]}: ${ex.total} digit${ex.total === 1 ? '' : 's'}${ex.total > ex.examples.length ? ` (first ${ex.examples.length})` : ''}. Choose one to put it on the pad.`;
  const shape = ex.shape;
  box.replaceChildren(...ex.examples.map((x) => {
    const canvas = el('canvas', { class: 'pixels' });
    paintShaped(canvas, shape[0] === 3 ? shape : [1, shape[1], shape[2]], x.values, grey);
    return el('button', {
      type: 'button', class: 'example', 'data-index': x.index,
      title: `test digit ${x.index}: label ${classes[x.label]}, answered ${classes[x.prediction]}; send to the pad`,
      'aria-label': `test digit ${x.index}, label ${classes[x.label]}, answered ${classes[x.prediction]}: send to the pad`,
      onclick: () => sendToPad(x.values, shape, model),
    }, canvas, el('span', { text: `#${x.index}` }));
  }));
}

// ---------------------------------------------------------------- training, live

const run = { started: null, epochs: [], before: null, state: 'idle', run: 0 };
const PRESETS = {
  mlp: ['', '--layers 784,30,10 --eta 3 --epochs 10 --monitor all --track-gradients'],
  ce: ['', '--layers 784,100,10 --cost cross-entropy --lambda 5 --eta 0.1 --epochs 10 --monitor all --track-gradients'],
  conv: ['conv 20 5x5; maxpool 2; dense 100; softmax 10', '--eta 0.1 --epochs 3 --monitor all --track-gradients'],
  lstm: ['lstm 128; softmax 10', '--optimizer adam --batch-size 64 --epochs 3 --monitor all --track-gradients'],
};
/** Splits flags as a shell would: spaces separate, quotes group, backslash escapes. */
function splitArgs(text) {
  const out = [];
  let cur = null, quote = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") { quote = ch; cur = cur ?? ''; }
    else if (ch === '\\' && i + 1 < text.length) { cur = (cur ?? '') + text[++i]; }
    else if (/\s/.test(ch)) { if (cur !== null) out.push(cur); cur = null; }
    else cur = (cur ?? '') + ch;
  }
  if (quote) throw new Error(`Flags: an unclosed ${quote} quote`);
  if (cur !== null) out.push(cur);
  return out;
}
function trainError(text) { $('train-error').textContent = text || ''; $('train-error').hidden = !text; }
function setupTraining() {
  const preset = $('preset');
  const apply = () => { [$('arch').value, $('flags').value] = PRESETS[preset.value]; };
  preset.addEventListener('change', () => { if (PRESETS[preset.value]) apply(); });
  for (const id of ['arch', 'flags']) $(id).addEventListener('input', () => { preset.value = 'custom'; });
  apply();
  $('train-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    trainError('');
    let args;
    try {
      args = splitArgs($('flags').value);
    } catch (err) { trainError(err.message); return; }
    const arch = $('arch').value.trim();
    if (arch) args = ['--arch', arch, ...args];
    $('start').disabled = true;
    statusLine('checking the flags, loading the data, building the network…');
    try {
      const r = await api('/api/train', { json: { args } });
      setRunState(r.state, r.run);
    } catch (err) {
      trainError(err.message);
      $('start').disabled = false;
      statusLine();
    }
  });
  for (const action of ['pause', 'resume', 'stop']) {
    $(action).addEventListener('click', async () => {
      try { const r = await api(`/api/train/${action}`, { json: {} }); setRunState(r.state, r.run); }
      catch (err) { trainError(err.message); }
    });
  }
  window.addEventListener('resize', () => { if (state.view === 'train') drawCharts(); });
  listen();
  api('/api/train').then((r) => { setRunState(r.state, r.run, r.model_ready); if (r.error) trainError(r.error); }).catch(() => {});
}
function setRunState(s, n, modelReady) {
  run.state = s;
  if (n !== undefined) run.run = n;
  const active = s === 'running' || s === 'paused' || s === 'stopping' || s === 'preparing';
  $('start').disabled = active;
  $('pause').disabled = s !== 'running';
  $('resume').disabled = s !== 'paused';
  $('stop').disabled = !(s === 'running' || s === 'paused');
  if (modelReady !== undefined) setDownload(modelReady);
  document.body.dataset.run = s;
  if (run.run && !state.models.length) banner('');
  statusLine();
}
function setDownload(ready) {
  const a = $('download');
  a.setAttribute('aria-disabled', String(!ready));
  a.tabIndex = ready ? 0 : -1;
}
function statusLine(extra = '') {
  const st = run.started;
  const parts = [];
  if (run.run) parts.push(`run ${run.run}: ${run.state}`);
  else parts.push('No run yet: start one above, or run `nndl train … --serve`.');
  if (st) parts.push(st.arch, `epoch ${run.epochs.length} of ${st.epochs}`, `${st.train_size} training images, mini-batch ${st.batch_size}`);
  if (extra) parts.push(extra);
  $('train-status').textContent = parts.join(' · ');
}
function listen() {
  const src = new EventSource('/api/events');
  const on = (name, f) => src.addEventListener(name, (e) => { try { f(JSON.parse(e.data)); } catch (err) { console.error(name, err); } });
  on('hello', (d) => setRunState(d.state, d.run));
  on('started', (d) => {
    run.started = d; run.epochs = []; run.before = null; run.run = d.run;
    showArgs(d.args || []);
    setDownload(false);
    $('epoch-progress').value = 0;
    $('train-weights').replaceChildren();
    trainError('');
    setRunState('running', d.run);
    drawCharts();
  });
  on('gradients_before', (d) => { run.before = d.gradient_norms; drawCharts(); });
  on('progress', (d) => {
    const p = $('epoch-progress');
    p.max = d.batches || 1; p.value = d.done;
    p.setAttribute('aria-valuetext', `epoch ${d.epoch}: ${d.done} of ${d.batches} mini-batches`);
    statusLine(`epoch ${d.epoch}: ${d.done} / ${d.batches} mini-batches`);
  });
  on('epoch', (d) => {
    run.epochs = run.epochs.filter((x) => x.epoch !== d.epoch);
    run.epochs.push(d);
    run.epochs.sort((a, b) => a.epoch - b.epoch);
    const acc = d.evaluation_accuracy ?? d.training_accuracy;
    statusLine(acc !== null && acc !== undefined ? `last: ${pct(acc).toFixed(2)}%` : '');
    drawCharts();
  });
  on('weights', showTrainWeights);
  on('paused', () => setRunState('paused'));
  on('resumed', () => setRunState('running'));
  on('stopping', () => setRunState('stopping'));
  on('finished', (d) => {
    setRunState('finished', d.run, d.model_ready);
    const acc = d.test_accuracy !== null && d.test_accuracy !== undefined ? `test accuracy ${pct(d.test_accuracy).toFixed(2)}%` : '';
    statusLine([acc, d.stopped_early ? `stopped: ${d.stopped_early}` : '', d.model ? `model ${d.model} (now in the model list)` : ''].filter(Boolean).join(' · '));
    loadModels();
  });
  on('error', (d) => { setRunState('failed', d.run); trainError(d.error); });
  on('lagged', (d) => statusLine(`(skipped ${d.skipped} events to catch up)`));
}
const pct = (v) => (v <= 1 ? 100 * v : v);
/** The run's flags in the form (what is running, and a start for the next run). */
function showArgs(args) {
  const rest = [...args];
  const at = rest.indexOf('--arch');
  const arch = at >= 0 ? rest.splice(at, 2)[1] ?? '' : '';
  const quote = (a) => (/^[\w.,:=\/+-]+$/.test(a) ? a : `"${a.replace(/["\\]/g, '\\$&')}"`);
  $('arch').value = arch;
  $('flags').value = rest.map(quote).join(' ');
  $('preset').value = 'custom';
}

function showTrainWeights(d) {
  const box = $('train-weights');
  const shape = drawShape(d.shape);
  const m = Math.max(Math.abs(d.min), Math.abs(d.max));
  while (box.children.length > d.weights.length) box.lastChild.remove();
  d.weights.forEach((w, i) => {
    let c = box.children[i];
    if (!c) { c = el('canvas', { title: `neuron ${i}` }); box.append(c); }
    paintShaped(c, shape[0] > 3 ? [1, shape[1], shape[2]] : shape, padTo(w, shape[0] * shape[1] * shape[2]), (v) => diverging(v, m));
  });
  box.dataset.epoch = d.epoch;
  $('train-weights-caption').textContent = `Layer ${d.layer}'s weights after epoch ${d.epoch} (first ${d.weights.length} neurons; blue −, red +, ±${fmt(m, 2)})`;
}

// ---------------------------------------------------------------- charts

const SERIES_COLOURS = ['#2f6fdf', '#e2762b', '#2ea05a', '#b03fc2', '#d23f3f', '#1aa3a3', '#8a6d1f', '#555'];
function drawCharts() {
  const E = run.started ? run.started.epochs : 1;
  const eps = run.epochs;
  const line = (key, label, colour, map = (v) => v) => ({
    label, colour, points: eps.filter((e) => e[key] !== null && e[key] !== undefined).map((e) => [e.epoch, map(e[key])]),
  });
  chart($('chart-cost'), [line('training_cost', 'training', '#2f6fdf'), line('evaluation_cost', 'validation', '#e2762b')], { xMax: E });
  chart($('chart-acc'), [line('training_accuracy', 'training', '#2f6fdf', pct), line('evaluation_accuracy', 'validation', '#e2762b', pct)], { xMax: E });
  const layers = Math.max(run.before ? run.before.length : 0, ...eps.map((e) => (e.gradient_norms ? e.gradient_norms.length : 0)));
  // The norms come one per layer with biases, first layer first.
  const biased = (run.started ? run.started.layers : []).filter((l) => ['dense', 'conv', 'timedense', 'rnn', 'lstm'].includes(l.kind));
  const grads = [];
  for (let l = 0; l < layers; l++) {
    const pts = [];
    if (run.before && run.before[l] > 0) pts.push([0, run.before[l]]);
    for (const e of eps) if (e.gradient_norms && e.gradient_norms[l] > 0) pts.push([e.epoch, e.gradient_norms[l]]);
    grads.push({ label: biased.length === layers ? `${biased[l].index} ${biased[l].description.split(' ')[0]}` : `layer ${l + 1}`, colour: SERIES_COLOURS[l % SERIES_COLOURS.length], points: pts });
  }
  chart($('chart-grad'), grads, { xMax: E, log: true, xMin: 0 });
}
function niceStep(span, n) {
  const raw = span / n, p = 10 ** Math.floor(Math.log10(raw)), f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}
/** A line chart: series of [x, y] points, axes with ticks, a legend; `data-points` counts the points drawn. */
function chart(canvas, series, { xMax = 1, xMin = 1, log = false } = {}) {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || 420, cssH = Math.round(Math.min(260, Math.max(170, cssW * 0.62)));
  canvas.width = Math.round(cssW * dpr); canvas.height = Math.round(cssH * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  const fg = css('--fg'), muted = css('--muted'), gridC = css('--line');
  const pts = series.flatMap((s) => s.points);
  if (canvas.dataset.points !== String(pts.length)) {
    // Every count drawn, in order: the browser test reads that the curve grew epoch by epoch.
    canvas.dataset.history = pts.length ? `${canvas.dataset.history ? `${canvas.dataset.history},` : ''}${pts.length}` : '';
  }
  canvas.dataset.points = pts.length;
  canvas.dataset.series = series.map((s) => s.points.length).join(',');
  const left = 48, right = 12, top = 26, bottom = 28;
  const W = cssW - left - right, H = cssH - top - bottom;
  ctx.font = '11px system-ui, sans-serif';
  const ty = (v) => (log ? Math.log10(v) : v);
  let lo = Math.min(...pts.map((p) => ty(p[1]))), hi = Math.max(...pts.map((p) => ty(p[1])));
  if (!pts.length) { lo = 0; hi = 1; }
  if (hi - lo < 1e-9) { lo -= log ? 0.5 : Math.abs(lo) * 0.05 + 0.01; hi += log ? 0.5 : Math.abs(hi) * 0.05 + 0.01; }
  const padY = (hi - lo) * 0.08; lo -= padY; hi += padY;
  const x0 = Math.min(xMin, ...pts.map((p) => p[0])), x1 = Math.max(xMax, x0 + 1, ...pts.map((p) => p[0]));
  const X = (x) => left + ((x - x0) / (x1 - x0)) * W, Y = (v) => top + H - ((ty(v) - lo) / (hi - lo)) * H;
  ctx.strokeStyle = gridC; ctx.fillStyle = muted; ctx.lineWidth = 1;
  ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
  if (log) {
    // Powers of ten, and 2× and 5× them when the data spans less than two decades.
    const marks = hi - lo < 2 ? [1, 2, 5] : [1];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      for (const m of marks) {
        const t = e + Math.log10(m);
        if (t < lo || t > hi) continue;
        const y = top + H - ((t - lo) / (hi - lo)) * H;
        ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + W, y); ctx.stroke();
        ctx.fillText(m * 10 ** e >= 0.01 && m * 10 ** e < 1000 ? String(+(m * 10 ** e).toPrecision(2)) : `${m}e${e}`, left - 4, y);
      }
    }
  } else {
    const step = niceStep(hi - lo, 4);
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      const y = top + H - ((v - lo) / (hi - lo)) * H;
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + W, y); ctx.stroke();
      ctx.fillText(Math.abs(v) < step / 1e6 ? '0' : v.toFixed(Math.max(0, -Math.floor(Math.log10(step)))), left - 4, y);
    }
  }
  ctx.textAlign = 'center'; ctx.textBaseline = 'top';
  const xs = niceStep(x1 - x0, Math.min(8, x1 - x0)) || 1;
  for (let x = Math.ceil(x0 / Math.max(1, xs)) * Math.max(1, xs); x <= x1; x += Math.max(1, xs)) ctx.fillText(String(x), X(x), top + H + 4);
  ctx.fillText('epoch', left + W / 2, top + H + 15);
  ctx.strokeStyle = muted;
  ctx.beginPath(); ctx.moveTo(left, top); ctx.lineTo(left, top + H); ctx.lineTo(left + W, top + H); ctx.stroke();
  for (const s of series) {
    if (!s.points.length) continue;
    ctx.strokeStyle = s.colour; ctx.fillStyle = s.colour; ctx.lineWidth = 2;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    ctx.stroke();
    for (const [x, y] of s.points) { ctx.beginPath(); ctx.arc(X(x), Y(y), 2.5, 0, 2 * Math.PI); ctx.fill(); }
  }
  const shown = series.filter((s) => s.points.length);
  ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
  let lx = left + 8;
  for (const s of shown) {
    ctx.fillStyle = s.colour; ctx.fillRect(lx, 8, 12, 3);
    ctx.fillStyle = fg; ctx.fillText(s.label, lx + 16, 10);
    lx += 26 + ctx.measureText(s.label).width;
  }
  if (!pts.length) { ctx.fillStyle = muted; ctx.textAlign = 'center'; ctx.fillText('no figures yet', left + W / 2, top + H / 2); }
}

// ---------------------------------------------------------------- start

async function start() {
  setupTabs();
  setupTheme();
  setupPad();
  setupTraining();
  $('model').addEventListener('change', () => {
    state.model = $('model').value;
    inside.model = null;
    if (state.view === 'test') loadConfusion(); else predictSoon();
  });
  const [, train] = await Promise.all([loadModels(), api('/api/train').catch(() => null)]);
  const want = location.hash.slice(1);
  if (['draw', 'inside', 'test', 'train'].includes(want)) showView(want);
  // `nndl train --serve` (a run and no address of a view yet), or nothing to draw with: the run.
  else if (!state.models.length || (train && train.run > 0)) showView('train');
  else showView('draw');
}
start();
