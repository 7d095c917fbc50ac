/**
 * Live learning curves on a canvas: the running loss (left scale) and accuracy (right scale, 0–100%)
 * after each batch, and each epoch's validation accuracy as a dot, redrawn as points arrive.
 */
export interface Curves {
  add(step: number, loss: number, accuracy: number): void;
  validation(step: number, accuracy: number): void;
  /** the number of steps the x axis spans */
  setSteps(steps: number): void;
}

export function curves(canvas: HTMLCanvasElement): Curves {
  const ctx = canvas.getContext('2d')!;
  const points: { step: number; loss: number; accuracy: number }[] = [];
  const val: { step: number; accuracy: number }[] = [];
  let steps = 1;
  let queued = false;
  const colors = { loss: '#d9534f', accuracy: '#2f6fde', grid: 'rgba(127,127,127,0.35)', text: '#777' };

  function draw(): void {
    queued = false;
    const w = canvas.width, h = canvas.height;
    const left = 36, right = 40, top = 10, bottom = 22;
    const pw = w - left - right, ph = h - top - bottom;
    ctx.clearRect(0, 0, w, h);
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = colors.grid;
    ctx.fillStyle = colors.text;
    ctx.lineWidth = 1;
    const maxLoss = Math.max(0.5, ...points.map((p) => p.loss));
    for (let i = 0; i <= 4; i++) {
      const y = top + (ph * i) / 4;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + pw, y);
      ctx.stroke();
      ctx.textAlign = 'right';
      ctx.fillText((maxLoss * (1 - i / 4)).toFixed(2), left - 4, y + 4);
      ctx.textAlign = 'left';
      ctx.fillText(`${100 - 25 * i}%`, left + pw + 4, y + 4);
    }
    ctx.textAlign = 'center';
    ctx.fillText(`step (of ${steps.toLocaleString('en-US')})`, left + pw / 2, h - 6);
    const x = (s: number): number => left + (pw * s) / Math.max(1, steps);
    const line = (ys: number[], color: string): void => {
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.step), ys[i]!) : ctx.lineTo(x(p.step), ys[i]!)));
      ctx.stroke();
    };
    line(points.map((p) => top + ph * (1 - p.loss / maxLoss)), colors.loss);
    line(points.map((p) => top + ph * (1 - p.accuracy)), colors.accuracy);
    ctx.fillStyle = colors.accuracy;
    for (const v of val) {
      ctx.beginPath();
      ctx.arc(x(v.step), top + ph * (1 - v.accuracy), 4, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  const redraw = (): void => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(draw);
  };
  draw();
  return {
    add(step, loss, accuracy) {
      points.push({ step, loss, accuracy });
      redraw();
    },
    validation(step, accuracy) {
      val.push({ step, accuracy });
      redraw();
    },
    setSteps(n) {
      steps = n;
      redraw();
    },
  };
}
