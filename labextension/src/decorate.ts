/**
 * Cell badges: each cell of a trajectory shows its `metadata.dojo` (step, action, status,
 * time, reward, score) in a one-line header, and its status as a coloured left edge.
 */
import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { PanelLayout, Widget } from '@lumino/widgets';

import { alignKey, badgeParts, cellDojo } from './dojo';

const BADGE_CLASS = 'dojo-nb-badge';
const DECORATED = 'dojo-nb-decorated';

class Badge extends Widget {
  constructor() {
    super();
    this.addClass(BADGE_CLASS);
  }
}

/** Add (or refresh) the badge of one cell. */
export function decorateCell(cell: Cell): void {
  const dojo = cellDojo(cell.model);
  const layout = cell.layout as PanelLayout | null;
  if (!layout) {
    return;
  }
  let badge = layout.widgets.find(w => w instanceof Badge) as Badge | undefined;
  for (const c of Array.from(cell.node.classList)) {
    if (c.startsWith('dojo-nb-cell-status-')) {
      cell.node.classList.remove(c);
    }
  }
  if (!dojo) {
    badge?.dispose();
    cell.node.removeAttribute('data-dojo-step');
    cell.node.removeAttribute('data-dojo-key');
    return;
  }
  if (!badge) {
    badge = new Badge();
    // After the cell header (index 0), before the input.
    layout.insertWidget(Math.min(1, layout.widgets.length), badge);
  }
  badge.node.textContent = '';
  for (const [modifier, text] of badgeParts(dojo)) {
    const span = document.createElement('span');
    span.className = modifier
      .split(' ')
      .map((m, i) => (i === 0 ? `${BADGE_CLASS}-${m}` : m))
      .join(' ');
    span.textContent = text;
    badge.node.appendChild(span);
  }
  badge.node.title = JSON.stringify(dojo, null, 1);
  cell.addClass(DECORATED);
  if (dojo.status) {
    cell.addClass(`dojo-nb-cell-status-${String(dojo.status).replace(/[^a-z_]/gi, '')}`);
  }
  if (typeof dojo.step === 'number') {
    cell.node.dataset.dojoStep = String(dojo.step);
  }
  const key = alignKey(dojo);
  if (key) {
    cell.node.dataset.dojoKey = key;
  }
}

/** Decorate every cell of a notebook panel, and keep decorating as cells change. */
export function decorateNotebook(panel: NotebookPanel): void {
  if (panel.hasClass('dojo-nb-trajectory')) {
    return;
  }
  panel.addClass('dojo-nb-trajectory');
  const notebook = panel.content;
  const all = () => notebook.widgets.forEach(decorateCell);
  all();
  let pending = 0;
  const later = () => {
    if (!pending) {
      pending = window.setTimeout(() => {
        pending = 0;
        if (!panel.isDisposed) {
          all();
        }
      }, 50);
    }
  };
  // Metadata edits, and cells the notebook renders after it is revealed (JupyterLab 4
  // creates cell widgets progressively, so not every cell exists when the document is ready).
  notebook.model?.contentChanged.connect(later);
  const nb = notebook as any;
  const viewport: HTMLElement = nb.viewportNode ?? notebook.node;
  const observer = new MutationObserver(later);
  observer.observe(viewport, { childList: true });
  panel.disposed.connect(() => {
    observer.disconnect();
    window.clearTimeout(pending);
  });
}
