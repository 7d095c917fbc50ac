/**
 * The drawing pad and what the model read: the canvas (mouse, pen or finger), the predicted digit,
 * how sure, the ten probability bars and the 28×28 image the model saw. Both pages use it; how a
 * drawing is read is the caller's (`read`): in the page by the worker, or by the server.
 */
import type { Answer, ModelFacts } from './protocol.js';

/** Stroke width relative to the pad's 280 px height: a digit drawn ~200 px tall ends up with MNIST-like 2 px strokes. */
const LINE_WIDTH = 20;
/** The pad: as tall as before, twice as wide, for a number of a few digits. */
const PAD_WIDTH = 560;
const PAD_HEIGHT = 280;
/** Least time between two live predictions while drawing, ms. */
const MIN_INTERVAL = 50;

/** The pad's markup; setUpPad puts it into its container. */
const MARKUP = `
<div class="layout">
  <section class="pad">
    <div class="padwrap">
      <canvas id="pad" width="${PAD_WIDTH}" height="${PAD_HEIGHT}" aria-label="drawing area: one digit, or a number of several in a row"></canvas>
      <canvas id="boxes" width="${PAD_WIDTH}" height="${PAD_HEIGHT}" aria-hidden="true"></canvas>
    </div>
    <div class="buttons"><button id="clear" type="button">Clear</button></div>
  </section>
  <section class="result" aria-live="polite">
    <div class="answer">
      <span class="caption">prediction</span>
      <output id="label" data-testid="prediction" data-state="empty" aria-busy="false">–</output>
      <span id="confidence" class="caption"></span>
    </div>
    <ol id="digits" class="digits" data-testid="digits" aria-label="each digit read"></ol>
    <figure>
      <canvas id="seen" width="28" height="28" aria-label="the 28 by 28 image the model saw"></canvas>
      <figcaption>what the model saw (28×28)</figcaption>
    </figure>
    <ol id="bars" class="bars"></ol>
  </section>
</div>
<p id="status" class="status" role="status"></p>
<footer id="model" class="caption"></footer>`;

/** Reads the pad: the answer, or null when there is nothing to read (a blank drawing). */
export type Reader = (pad: HTMLCanvasElement) => Promise<Answer | null>;

export interface Pad {
  clear(): void;
  /** the model's facts for the footer; its class names label the bars */
  showModel(m: ModelFacts): void;
  /** how drawings are read from now on (null: not yet; drawings wait) */
  setReader(read: Reader | null): void;
}

function byId<T extends HTMLElement>(root: ParentNode, id: string): T {
  const el = root.querySelector<T>(`#${id}`);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el;
}

/**
 * The pad in `container`: its canvas, the answer (data-testid `prediction`), the bars, the 28×28 image,
 * a status line and the model's footer (ids pad, clear, label, confidence, seen, bars, status, model).
 */
export function setUpPad(container: HTMLElement): Pad {
  container.innerHTML = MARKUP;
  const root: ParentNode = container;
  const pad = byId<HTMLCanvasElement>(root, 'pad');
  const seen = byId<HTMLCanvasElement>(root, 'seen');
  const labelEl = byId<HTMLOutputElement>(root, 'label');
  const confidenceEl = byId(root, 'confidence');
  const barsEl = byId(root, 'bars');
  const statusEl = byId(root, 'status');
  const modelEl = byId(root, 'model');
  const ctx = pad.getContext('2d', { willReadFrequently: true })!;
  const seenCtx = seen.getContext('2d')!;
  const boxes = byId<HTMLCanvasElement>(root, 'boxes');
  const boxesCtx = boxes.getContext('2d')!;
  const digitsEl = byId(root, 'digits');

  let read: Reader | null = null;
  let drawing = false;
  let activePointer = -1;
  let last = { x: 0, y: 0 };
  let hasInk = false;
  let dirty = false;
  let inFlight = false;
  let lastSent = 0;
  let timer = 0;
  let generation = 0; // bumped by Clear, so an answer for an older drawing is dropped

  // ---------------------------------------------------------------- the bars
  const fills: HTMLElement[] = [];
  const pcts: HTMLElement[] = [];
  const rows: HTMLElement[] = [];
  const names: HTMLElement[] = [];
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

  function resetResult(): void {
    boxesCtx.clearRect(0, 0, boxes.width, boxes.height);
    digitsEl.replaceChildren();
    labelEl.textContent = '–';
    labelEl.dataset.state = 'empty';
    confidenceEl.textContent = '';
    for (let d = 0; d < 10; d++) {
      fills[d]!.style.width = '0%';
      pcts[d]!.textContent = '';
      rows[d]!.classList.remove('top');
    }
    seenCtx.fillStyle = '#000';
    seenCtx.fillRect(0, 0, 28, 28);
  }

  /** A probability as a percentage of one decimal that never rounds up to 100% or down to 0% unless it is exactly that. */
  function percent(p: number): string {
    const text = (p * 100).toFixed(1);
    if (text === '100.0' && p < 1) return '>99.9%';
    if (text === '0.0' && p > 0) return '<0.1%';
    return `${text}%`;
  }

  function showResult(answer: Answer): void {
    const probs = answer.probabilities;
    const digit = answer.isDigit !== false; // a server of an older version does not say
    labelEl.textContent = digit ? classNames[answer.label] ?? String(answer.label) : '?';
    labelEl.dataset.state = 'ready';
    labelEl.dataset.digit = String(digit);
    if (answer.ms !== undefined) labelEl.dataset.ms = answer.ms.toFixed(2); // the page's own reading time (bench/web.ts reads it)
    confidenceEl.textContent = digit ? `${percent(answer.confidence ?? probs[answer.label]!)} sure` :
      `not a digit (at best a ${classNames[answer.label] ?? answer.label}, ${percent(answer.confidence ?? probs[answer.label]!)} sure)`;
    for (let d = 0; d < 10; d++) {
      fills[d]!.style.width = `${(probs[d]! * 100).toFixed(1)}%`;
      pcts[d]!.textContent = percent(probs[d]!);
      rows[d]!.classList.toggle('top', d === answer.label);
    }
    showNumber(answer);
    const { width, height, pixels } = answer.preprocessed;
    const img = seenCtx.createImageData(width, height);
    for (let i = 0; i < pixels.length; i++) {
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = pixels[i]!;
      img.data[4 * i + 3] = 255;
    }
    seenCtx.putImageData(img, 0, 0);
  }

  /** A drawing of several digits: the number as the answer, each digit boxed on the pad and listed with how sure. */
  function showNumber(answer: Answer): void {
    boxesCtx.clearRect(0, 0, boxes.width, boxes.height);
    digitsEl.replaceChildren();
    const digits = answer.number?.digits ?? [];
    // several digits: the bars and the 28×28 image (of the whole drawing as one digit) would mislead
    barsEl.hidden = seen.parentElement!.hidden = digits.length >= 2;
    if (digits.length < 2) return; // one digit: the answer above says it all
    labelEl.textContent = answer.number!.text;
    labelEl.dataset.digit = String(digits.every((d) => d.isDigit));
    const sure = digits.filter((d) => d.isDigit).length;
    confidenceEl.textContent = `${digits.length} marks, ${sure} read as digits`;
    boxesCtx.lineWidth = 2;
    boxesCtx.font = 'bold 22px system-ui, sans-serif';
    for (const d of digits) {
      const name = d.isDigit ? classNames[d.label] ?? String(d.label) : '?';
      const color = d.isDigit ? '#1a9c4b' : '#b3261e';
      boxesCtx.strokeStyle = boxesCtx.fillStyle = color;
      boxesCtx.strokeRect(d.box.x - 3, d.box.y - 3, d.box.width + 6, d.box.height + 6);
      boxesCtx.fillText(name, d.box.x, Math.max(20, d.box.y - 8));
      const li = document.createElement('li');
      li.dataset.testid = 'digit';
      li.dataset.digit = name;
      if (!d.isDigit) li.className = 'not-digit';
      li.textContent = `${name} ${percent(d.confidence)}${d.isDigit ? '' : ' (not a digit)'}`;
      digitsEl.appendChild(li);
    }
  }

  // ---------------------------------------------------------------- drawing
  function clear(): void {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, pad.width, pad.height);
    hasInk = false;
    dirty = false;
    busy(false);
    generation++;
    statusEl.textContent = '';
    resetResult();
  }

  function point(e: PointerEvent): { x: number; y: number } {
    const r = pad.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * pad.width) / r.width, y: ((e.clientY - r.top) * pad.height) / r.height };
  }

  function segment(from: { x: number; y: number }, to: { x: number; y: number }): void {
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
    busy(true);
  }

  /** aria-busy on the answer: true from a change to the drawing until the answer to the latest drawing shows. */
  function busy(b: boolean): void {
    labelEl.setAttribute('aria-busy', String(b));
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

  const endStroke = (e: PointerEvent): void => {
    if (!drawing || e.pointerId !== activePointer) return;
    drawing = false;
    activePointer = -1;
    schedule();
  };
  pad.addEventListener('pointerup', endStroke);
  pad.addEventListener('pointercancel', endStroke);

  byId(root, 'clear').addEventListener('click', clear);
  window.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' || e.key === 'Delete') clear();
  });

  // ---------------------------------------------------------------- live reading
  /** At most one reading in flight and one every MIN_INTERVAL ms; the latest drawing always gets read. */
  function schedule(): void {
    if (!dirty || !hasInk || inFlight || timer || read === null) return;
    const wait = lastSent + MIN_INTERVAL - performance.now();
    if (wait > 0) {
      timer = window.setTimeout(() => {
        timer = 0;
        schedule();
      }, wait);
      return;
    }
    void send(read);
  }

  async function send(reader: Reader): Promise<void> {
    dirty = false;
    inFlight = true;
    lastSent = performance.now();
    const gen = generation;
    try {
      const answer = await reader(pad);
      if (gen !== generation) return;
      statusEl.textContent = '';
      if (answer === null) resetResult();
      else showResult(answer);
    } catch (err) {
      if (gen === generation) statusEl.textContent = err instanceof Error ? err.message : String(err);
    } finally {
      inFlight = false;
      if (!dirty) busy(false);
      schedule();
    }
  }

  function showModel(m: ModelFacts): void {
    const parts = [`model ${m.id}`, `${m.parameters.toLocaleString('en-US')} parameters`];
    if (m.members !== undefined) parts.push(`ensemble of ${m.members}`);
    if (m.testAccuracy !== null) parts.push(`test accuracy ${(m.testAccuracy * 100).toFixed(2)}%`);
    if (m.trainedAt) parts.push(`trained ${new Date(m.trainedAt).toLocaleString()}`);
    modelEl.textContent = parts.join(' · ');
    if (m.classNames.length === 10) {
      classNames = m.classNames.map(String);
      names.forEach((el, d) => { el.textContent = classNames[d]!; el.title = classNames[d]!; });
      barsEl.classList.toggle('named', classNames.some((n, d) => n !== String(d)));
    }
  }

  clear();
  return {
    clear,
    showModel,
    setReader: (r: Reader | null): void => {
      read = r;
      schedule();
    },
  };
}

/** Reads drawings in the page: the canvas's pixels to the worker, which preprocesses and predicts. */
export function pageReader(request: (rgba: Uint8ClampedArray, width: number, height: number) => Promise<Answer | null>): Reader {
  return async (pad) => {
    const img = pad.getContext('2d', { willReadFrequently: true })!.getImageData(0, 0, pad.width, pad.height);
    return request(img.data, img.width, img.height);
  };
}
