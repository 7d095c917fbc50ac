// The drawing page. Plain JavaScript (no build step, no CDN): the canvas is
// sent as a PNG to POST /api/predict, and the server does ALL the
// preprocessing (src/preprocess/image.ts, the same code as `digits predict`)
// and answers with the 28×28 image the model saw, which is shown here.

const pad = /** @type {HTMLCanvasElement} */ (document.getElementById('pad'));
const seen = /** @type {HTMLCanvasElement} */ (document.getElementById('seen'));
const labelEl = /** @type {HTMLOutputElement} */ (document.getElementById('label'));
const confidenceEl = document.getElementById('confidence');
const barsEl = document.getElementById('bars');
const statusEl = document.getElementById('status');
const modelEl = document.getElementById('model');
const ctx = /** @type {CanvasRenderingContext2D} */ (pad.getContext('2d'));
const seenCtx = /** @type {CanvasRenderingContext2D} */ (seen.getContext('2d'));

/** Stroke width relative to a 280 px pad: a digit drawn ~200 px tall ends up with MNIST-like 2 px strokes. */
const LINE_WIDTH = 20;
/** Least time between two live predictions while drawing, ms. */
const MIN_INTERVAL = 50;

let drawing = false;
let activePointer = -1;
let last = { x: 0, y: 0 };
let hasInk = false;
let dirty = false;
let inFlight = false;
let lastSent = 0;
let timer = 0;
let generation = 0; // bumped by Clear, so an answer for an older drawing is dropped

// ------------------------------------------------------------------ the bars
const fills = [];
const pcts = [];
const rows = [];
const names = [];
/** Each class's name: the digits until /api/model gives the model's own (a Fashion-MNIST model's "Trouser"). */
let classNames = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
for (let d = 0; d < 10; d++) {
  const li = document.createElement('li');
  li.dataset.digit = String(d);
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = String(d);
  names.push(name);
  const track = document.createElement('span');
  track.className = 'track';
  const fill = document.createElement('span');
  fill.className = 'fill';
  fill.style.display = 'block';
  track.appendChild(fill);
  const pct = document.createElement('span');
  pct.className = 'pct';
  li.append(name, track, pct);
  barsEl.appendChild(li);
  fills.push(fill);
  pcts.push(pct);
  rows.push(li);
}

function resetResult() {
  labelEl.textContent = '–';
  labelEl.dataset.state = 'empty';
  confidenceEl.textContent = '';
  for (let d = 0; d < 10; d++) {
    fills[d].style.width = '0%';
    pcts[d].textContent = '';
    rows[d].classList.remove('top');
  }
  seenCtx.fillStyle = '#000';
  seenCtx.fillRect(0, 0, 28, 28);
}

/** A probability as a percentage of one decimal that never rounds up to 100% or down to 0% unless it is exactly that. */
function percent(p) {
  const text = (p * 100).toFixed(1);
  if (text === '100.0' && p < 1) return '>99.9%';
  if (text === '0.0' && p > 0) return '<0.1%';
  return `${text}%`;
}

function showResult(answer) {
  const probs = answer.probabilities;
  labelEl.textContent = classNames[answer.label] ?? String(answer.label);
  labelEl.dataset.state = 'ready';
  confidenceEl.textContent = `${percent(probs[answer.label])} sure`;
  for (let d = 0; d < 10; d++) {
    fills[d].style.width = `${(probs[d] * 100).toFixed(1)}%`;
    pcts[d].textContent = percent(probs[d]);
    rows[d].classList.toggle('top', d === answer.label);
  }
  if (answer.preprocessed) {
    const { width, height, pixels } = answer.preprocessed;
    const img = seenCtx.createImageData(width, height);
    for (let i = 0; i < pixels.length; i++) {
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = pixels[i];
      img.data[4 * i + 3] = 255;
    }
    seenCtx.putImageData(img, 0, 0);
  }
}

// ------------------------------------------------------------------ drawing
function clearPad() {
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, pad.width, pad.height);
  hasInk = false;
  dirty = false;
  generation++;
  statusEl.textContent = '';
  resetResult();
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return { x: ((e.clientX - r.left) * pad.width) / r.width, y: ((e.clientY - r.top) * pad.height) / r.height };
}

function segment(from, to) {
  ctx.strokeStyle = '#000';
  ctx.lineWidth = LINE_WIDTH;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
  hasInk = true;
  dirty = true;
}

pad.addEventListener('pointerdown', (e) => {
  if (drawing) return;
  e.preventDefault();
  drawing = true;
  activePointer = e.pointerId;
  try {
    pad.setPointerCapture(e.pointerId); // keep the stroke when the pointer leaves the pad
  } catch {
    // not an active pointer (a synthetic event): draw without capture
  }
  last = point(e);
  segment(last, last); // a dot
  schedule();
});

pad.addEventListener('pointermove', (e) => {
  if (!drawing || e.pointerId !== activePointer) return;
  e.preventDefault();
  const events = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
  for (const ev of events.length ? events : [e]) {
    const p = point(ev);
    segment(last, p);
    last = p;
  }
  schedule();
});

function endStroke(e) {
  if (!drawing || e.pointerId !== activePointer) return;
  drawing = false;
  activePointer = -1;
  schedule();
}
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);

document.getElementById('clear').addEventListener('click', clearPad);
window.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' || e.key === 'Delete') clearPad();
});

// ------------------------------------------------------------------ live prediction
/** At most one request in flight and one every MIN_INTERVAL ms; the latest drawing always gets read. */
function schedule() {
  if (!dirty || !hasInk || inFlight || timer) return;
  const wait = lastSent + MIN_INTERVAL - performance.now();
  if (wait > 0) {
    timer = window.setTimeout(() => {
      timer = 0;
      schedule();
    }, wait);
    return;
  }
  void send();
}

async function send() {
  dirty = false;
  inFlight = true;
  lastSent = performance.now();
  const gen = generation;
  try {
    const blob = await new Promise((resolve) => pad.toBlob(resolve, 'image/png'));
    if (!blob) throw new Error('the canvas could not be encoded as PNG');
    const res = await fetch('/api/predict', { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: blob });
    const answer = await res.json().catch(() => null);
    if (gen !== generation) return;
    if (!res.ok) {
      if (res.status === 422) resetResult(); // blank: nothing to read yet
      else statusEl.textContent = `error ${res.status}: ${answer?.message ?? res.statusText}`;
      return;
    }
    statusEl.textContent = '';
    showResult(answer);
  } catch (err) {
    if (gen === generation) statusEl.textContent = `cannot reach the server: ${err.message ?? err}`;
  } finally {
    inFlight = false;
    schedule();
  }
}

// ------------------------------------------------------------------ the model
async function showModel() {
  try {
    const res = await fetch('/api/model');
    if (!res.ok) return;
    const m = await res.json();
    const parts = [`model ${m.id}`, `${m.parameters.toLocaleString('en-US')} parameters`];
    if (Array.isArray(m.members)) parts.push(`ensemble of ${m.members.length}`);
    if (m.testAccuracy !== null) parts.push(`test accuracy ${(m.testAccuracy * 100).toFixed(2)}%`);
    if (m.trainedAt) parts.push(`trained ${new Date(m.trainedAt).toLocaleString()}`);
    modelEl.textContent = parts.join(' · ');
    if (Array.isArray(m.classNames) && m.classNames.length === 10) {
      classNames = m.classNames.map(String);
      names.forEach((el, d) => { el.textContent = classNames[d]; el.title = classNames[d]; });
      barsEl.classList.toggle('named', classNames.some((n, d) => n !== String(d)));
    }
  } catch {
    // the footer is optional
  }
}

clearPad();
void showModel();
