/**
 * The score-curve panel: both trajectories' submissions over steps, drawn as a small SVG by
 * hand (no charting library).
 *
 * Each series shows a dot per graded submission and a step line of the best score so far.
 * Two scales: the public position score (0..1, comparable across tasks) and the task
 * metric itself (public split; the best-so-far line follows the metric's direction).
 * Clicking a point calls `onPick(series, step)` (Lab Compare scrolls to that submission).
 */
import { Widget } from '@lumino/widgets';

import { formatNumber, IScoreSeries } from './dojo';

const SVG_NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f6fd1', '#d9480f'];

type Scale = 'position' | 'score';

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: { [name: string]: string | number },
  parent?: Element
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  if (parent) {
    parent.appendChild(node);
  }
  return node;
}

/** Round, readable tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const raw = span / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

export type PickHandler = (series: number, step: number) => void;

export class ScoreCurves extends Widget {
  constructor(series: IScoreSeries[], onPick?: PickHandler) {
    super();
    this._onPick = onPick ?? null;
    this.addClass('dojo-nb-curves');
    this._series = series;
    this.title.label = 'Score curves';
    this.title.caption = `Score curves: ${series.map(s => s.label).join(' vs ')}`;
    this.title.closable = true;

    const bar = document.createElement('div');
    bar.className = 'dojo-nb-curves-bar';
    const select = document.createElement('select');
    select.className = 'dojo-nb-curves-scale';
    select.title = 'What the vertical axis shows';
    // Two tasks' metrics share no axis: then only the position score (0-1 on every task).
    const metrics = new Set(series.map(s => s.metric));
    const scales = [['position', 'public position score (0–1)']];
    if (metrics.size <= 1) {
      scales.push(['score', `public ${series[0]?.metric ?? 'score'}`]);
    }
    for (const [value, text] of scales) {
      const opt = document.createElement('option');
      opt.value = value;
      opt.textContent = text;
      select.appendChild(opt);
    }
    select.addEventListener('change', () => {
      this._scale = select.value as Scale;
      this.draw();
    });
    bar.appendChild(select);
    this._legend = document.createElement('div');
    this._legend.className = 'dojo-nb-curves-legend';
    bar.appendChild(this._legend);
    this.node.appendChild(bar);

    this._host = document.createElement('div');
    this._host.className = 'dojo-nb-curves-plot';
    this.node.appendChild(this._host);
    this.draw();
  }

  get series(): IScoreSeries[] {
    return this._series;
  }

  set series(value: IScoreSeries[]) {
    this._series = value;
    this.draw();
  }

  protected onResize(): void {
    this.draw();
  }

  protected onAfterShow(): void {
    this.draw();
  }

  /** Draw (again) at the current size. */
  draw(): void {
    const width = Math.max(360, this._host.clientWidth || 640);
    const height = Math.max(160, this._host.clientHeight || 220);
    const pad = { left: 56, right: 16, top: 12, bottom: 34 };
    const w = width - pad.left - pad.right;
    const h = height - pad.top - pad.bottom;
    const key = this._scale;

    this._legend.textContent = '';
    this._series.forEach((s, i) => {
      const item = document.createElement('span');
      item.className = 'dojo-nb-curves-legend-item';
      const swatch = document.createElement('span');
      swatch.className = 'dojo-nb-curves-swatch';
      swatch.style.background = COLORS[i % COLORS.length];
      item.appendChild(swatch);
      const f = s.final;
      let text = `${s.label}: ${s.points.length} graded submission${s.points.length === 1 ? '' : 's'}`;
      if (f && f.valid) {
        text += `; final private ${formatNumber(f.private_score)}${f.medal ? ` (${f.medal})` : ''}`;
      }
      item.appendChild(document.createTextNode(text));
      this._legend.appendChild(item);
    });

    const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
    svg.classList.add('dojo-nb-curves-svg');
    el('title', {}, svg).textContent = 'Score over steps';

    const maxStep = Math.max(1, ...this._series.map(s => s.lastStep));
    const values = this._series.flatMap(s => s.points.map(p => p[key])).filter((v): v is number => v !== null);
    let lo = key === 'position' ? 0 : Math.min(...values);
    let hi = key === 'position' ? 1 : Math.max(...values);
    if (!values.length) {
      lo = 0;
      hi = 1;
    }
    if (hi - lo < 1e-12) {
      lo -= Math.abs(lo) * 0.05 || 0.5;
      hi += Math.abs(hi) * 0.05 || 0.5;
    }
    const x = (step: number) => pad.left + (step / maxStep) * w;
    const y = (v: number) => pad.top + (1 - (v - lo) / (hi - lo)) * h;

    const axes = el('g', { class: 'dojo-nb-curves-axes' }, svg);
    for (const t of ticks(lo, hi, 4)) {
      el('line', { x1: pad.left, x2: pad.left + w, y1: y(t), y2: y(t), class: 'dojo-nb-curves-grid' }, axes);
      const label = el('text', { x: pad.left - 6, y: y(t) + 4, 'text-anchor': 'end' }, axes);
      label.textContent = formatNumber(t, 3);
    }
    for (const t of ticks(0, maxStep, 8).filter(t => Number.isInteger(t))) {
      el('line', { x1: x(t), x2: x(t), y1: pad.top + h, y2: pad.top + h + 4, class: 'dojo-nb-curves-tick' }, axes);
      const label = el('text', { x: x(t), y: pad.top + h + 16, 'text-anchor': 'middle' }, axes);
      label.textContent = String(t);
    }
    el('line', { x1: pad.left, x2: pad.left + w, y1: pad.top + h, y2: pad.top + h, class: 'dojo-nb-curves-axis' }, axes);
    el('line', { x1: pad.left, x2: pad.left, y1: pad.top, y2: pad.top + h, class: 'dojo-nb-curves-axis' }, axes);
    const xl = el('text', { x: pad.left + w / 2, y: height - 4, 'text-anchor': 'middle' }, axes);
    xl.textContent = 'step';

    this._series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const g = el('g', { class: 'dojo-nb-curve', 'data-series': i, 'data-label': s.label }, svg);
      const pts = s.points.filter(p => p[key] !== null);
      if (pts.length) {
        // Best so far: a step line from the first submission to the end of the episode.
        const better = (a: number, b: number) =>
          key === 'score' && s.lowerIsBetter ? a < b : a > b;
        let best = pts[0][key] as number;
        let d = `M ${x(pts[0].step)} ${y(best)}`;
        for (const p of pts.slice(1)) {
          const v = p[key] as number;
          if (better(v, best)) {
            d += ` H ${x(p.step)} V ${y(v)}`;
            best = v;
          }
        }
        d += ` H ${x(Math.max(s.lastStep, pts[pts.length - 1].step))}`;
        el('path', { d, fill: 'none', stroke: color, 'stroke-width': 2, class: 'dojo-nb-curve-line' }, g);
      }
      for (const p of pts) {
        const dot = el('circle', {
          cx: x(p.step), cy: y(p[key] as number), r: p.final ? 5 : 3.5,
          fill: p.final ? color : 'var(--jp-layout-color0, white)', stroke: color, 'stroke-width': 2,
          class: 'dojo-nb-curve-point', 'data-step': p.step
        }, g);
        el('title', {}, dot).textContent =
          `${s.label}, step ${p.step}: position ${formatNumber(p.position)}, ${s.metric} ${formatNumber(p.score)}${p.final ? ' (final)' : ''}`;
        if (this._onPick) {
          const pick = this._onPick;
          dot.classList.add('dojo-nb-curve-point-link');
          dot.addEventListener('click', () => pick(i, p.step));
        }
      }
    });

    if (!this._series.some(s => s.points.length)) {
      const t = el('text', { x: pad.left + w / 2, y: pad.top + h / 2, 'text-anchor': 'middle', class: 'dojo-nb-curves-empty' }, svg);
      t.textContent = 'no graded submission in either trajectory';
    }
    this._host.textContent = '';
    this._host.appendChild(svg);
  }

  private _series: IScoreSeries[];
  private _onPick: PickHandler | null;
  private _scale: Scale = 'position';
  private _host: HTMLElement;
  private _legend: HTMLElement;
}
