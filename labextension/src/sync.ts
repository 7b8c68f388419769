/**
 * Scrolling two trajectory notebooks together, cell by paired cell.
 *
 * When one notebook scrolls, the cell at the top of its viewport (and how far into that
 * cell the viewport starts) is looked up in the pairing (src/pairing.ts: the same rows the
 * static compare page shows side by side), and the other notebook is scrolled so that the
 * partner cell sits at the same place.
 */
import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';

/** The element that scrolls a notebook (the windowed list's outer node in JupyterLab 4). */
export function scroller(panel: NotebookPanel): HTMLElement {
  const nb = panel.content as any;
  return (nb.outerNode as HTMLElement | undefined) ?? panel.content.node;
}

interface IAnchor {
  index: number;
  fraction: number;
}

/** The cell at the top of the viewport and how far (0..1) into it the viewport starts. */
function topAnchor(panel: NotebookPanel): IAnchor | null {
  const outer = scroller(panel).getBoundingClientRect();
  const cells = panel.content.widgets;
  for (let i = 0; i < cells.length; i++) {
    const node = cells[i].node;
    if (!node.isConnected) {
      continue;
    }
    const r = node.getBoundingClientRect();
    if (r.height > 0 && r.bottom > outer.top + 1) {
      return { index: i, fraction: Math.min(1, Math.max(0, (outer.top - r.top) / r.height)) };
    }
  }
  return null;
}

export class ScrollSync implements IDisposable {
  /** `partners.get(panel)[i]`: the index in the other panel shown with cell `i` (or null). */
  constructor(a: NotebookPanel, b: NotebookPanel, partners: Map<NotebookPanel, Array<number | null>>) {
    this._panels = [a, b];
    this._partners = partners;
    for (const [src, dst] of [
      [a, b],
      [b, a]
    ] as const) {
      const node = scroller(src);
      const listener = () => this._onScroll(src, dst);
      node.addEventListener('scroll', listener, { passive: true });
      this._listeners.push([node, listener]);
      src.disposed.connect(() => this.dispose());
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    for (const [node, listener] of this._listeners) {
      node.removeEventListener('scroll', listener);
    }
    this._listeners = [];
  }

  /** Bring `dst` to the step shown at the top of `src`. */
  align(src: NotebookPanel, dst: NotebookPanel): void {
    const from = scroller(src);
    const to = scroller(dst);
    this._ignoreUntil.set(dst, performance.now() + 120);
    if (from.scrollTop <= 0) {
      to.scrollTop = 0;
      return;
    }
    const anchor = topAnchor(src);
    if (!anchor) {
      return;
    }
    const index = this._partners.get(src)?.[anchor.index] ?? null;
    if (index === null || index >= dst.content.widgets.length) {
      return;
    }
    const cell = dst.content.widgets[index];
    if (!cell.node.isConnected) {
      // Windowed out: let the notebook bring it in, then align precisely.
      void dst.content.scrollToItem(index, 'start').then(() => {
        this._ignoreUntil.set(dst, performance.now() + 120);
        this._place(dst, cell, anchor.fraction);
      });
      return;
    }
    this._place(dst, cell, anchor.fraction);
  }

  private _place(dst: NotebookPanel, cell: Cell, fraction: number): void {
    const to = scroller(dst);
    const r = cell.node.getBoundingClientRect();
    const outer = to.getBoundingClientRect();
    to.scrollTop += r.top - outer.top + fraction * r.height;
  }

  private _onScroll(src: NotebookPanel, dst: NotebookPanel): void {
    if (this._isDisposed || (this._ignoreUntil.get(src) ?? 0) > performance.now()) {
      return;
    }
    if (this._frame) {
      cancelAnimationFrame(this._frame);
    }
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      if (!this._isDisposed && !src.isDisposed && !dst.isDisposed) {
        this.align(src, dst);
      }
    });
  }

  private _panels: NotebookPanel[];
  private _partners: Map<NotebookPanel, Array<number | null>>;
  private _listeners: Array<[HTMLElement, () => void]> = [];
  private _ignoreUntil = new Map<NotebookPanel, number>();
  private _frame = 0;
  private _isDisposed = false;

  get panels(): NotebookPanel[] {
    return this._panels;
  }
}
