/**
 * dojo-nb-lab: compare two dojo-nb trajectory notebooks in JupyterLab 4.
 *
 * Command `dojo-nb:compare` ("Compare trajectories", in the command palette): asks for two
 * notebook paths (or takes `{left, right}` as arguments), opens them side by side without
 * starting kernels, scrolls them together by step, shows each cell's `metadata.dojo` as a
 * badge, and opens a panel with both score curves. Any trajectory notebook opened otherwise
 * gets the badges too.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, ICommandPalette, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { ScoreCurves } from './chart';
import { decorateNotebook } from './decorate';
import { isTrajectory, scoreSeries } from './dojo';
import { ScrollSync } from './sync';

export const PLUGIN_ID = 'dojo-nb-lab:plugin';
export const COMMAND_ID = 'dojo-nb:compare';

/** The dialog body: two path fields. */
class PathsBody extends Widget implements Dialog.IBodyWidget<{ left: string; right: string }> {
  constructor(left: string, right: string) {
    super();
    this.addClass('dojo-nb-compare-dialog');
    this._left = this._field('Left trajectory (.ipynb path, relative to the Jupyter root)', 'left', left);
    this._right = this._field('Right trajectory', 'right', right);
  }

  private _field(label: string, name: string, value: string): HTMLInputElement {
    const wrap = document.createElement('label');
    wrap.textContent = label;
    const input = document.createElement('input');
    input.type = 'text';
    input.name = name;
    input.value = value;
    input.placeholder = 'runs/EPISODE/trajectory.ipynb';
    input.className = `jp-mod-styled dojo-nb-compare-${name}-path`;
    wrap.appendChild(input);
    this.node.appendChild(wrap);
    return input;
  }

  getValue(): { left: string; right: string } {
    return { left: this._left.value.trim(), right: this._right.value.trim() };
  }

  protected onAfterAttach(): void {
    (this._left.value ? this._right : this._left).focus();
  }

  private _left: HTMLInputElement;
  private _right: HTMLInputElement;
}

function normalise(path: string): string {
  let p = path.trim().replace(/^\/+/, '');
  if (p && !p.endsWith('.ipynb')) {
    p = p.replace(/\/+$/, '') + '/trajectory.ipynb';
  }
  return p;
}

async function waitForNotebook(panel: NotebookPanel): Promise<void> {
  await panel.context.ready;
  await panel.revealed;
}

let counter = 0;

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Compare two dojo-nb trajectories side by side.',
  autoStart: true,
  requires: [IDocumentManager, INotebookTracker],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    tracker: INotebookTracker,
    palette: ICommandPalette | null
  ) => {
    // Badges on every trajectory, however it was opened.
    tracker.widgetAdded.connect((_, panel) => {
      void panel.context.ready.then(() => {
        if (!panel.isDisposed && isTrajectory(panel.content.model)) {
          decorateNotebook(panel);
        }
      });
    });

    async function compare(left: string, right: string) {
      if (left === right) {
        throw new Error(`Both sides are the same notebook (${left}): choose two trajectories.`);
      }
      for (const path of [left, right]) {
        try {
          await docManager.services.contents.get(path, { content: false });
        } catch (err) {
          throw new Error(`No such notebook: ${path}`);
        }
      }
      const noKernel = { shouldStart: false, canStart: true, autoStartDefault: false };
      const a = docManager.openOrReveal(left, 'Notebook', undefined, { mode: 'tab-after' }, noKernel) as
        | NotebookPanel
        | undefined;
      if (!a) {
        throw new Error(`Cannot open ${left} as a notebook`);
      }
      const b = docManager.openOrReveal(right, 'Notebook', undefined, { mode: 'split-right', ref: a.id }, noKernel) as
        | NotebookPanel
        | undefined;
      if (!b) {
        throw new Error(`Cannot open ${right} as a notebook`);
      }
      a.addClass('dojo-nb-compare-left');
      b.addClass('dojo-nb-compare-right');
      await Promise.all([waitForNotebook(a), waitForNotebook(b)]);
      decorateNotebook(a);
      decorateNotebook(b);
      const sync = new ScrollSync(a, b);

      const label = (p: string) => {
        const parts = p.split('/');
        return parts.length > 1 && parts[parts.length - 1] === 'trajectory.ipynb'
          ? parts[parts.length - 2]
          : parts[parts.length - 1];
      };
      const chart = new ScoreCurves([
        scoreSeries(a.content.model!, label(left)),
        scoreSeries(b.content.model!, label(right))
      ]);
      chart.id = `dojo-nb-curves-${++counter}`;
      chart.title.label = `Scores: ${label(left)} vs ${label(right)}`;
      app.shell.add(chart, 'main', { mode: 'split-bottom' });
      const refresh = () => {
        if (!chart.isDisposed) {
          chart.series = [scoreSeries(a.content.model!, label(left)), scoreSeries(b.content.model!, label(right))];
        }
      };
      a.context.fileChanged.connect(refresh);
      b.context.fileChanged.connect(refresh);
      app.shell.activateById(a.id);
      return { left: a.id, right: b.id, curves: chart.id, sync };
    }

    app.commands.addCommand(COMMAND_ID, {
      label: 'Compare trajectories',
      caption: 'Open two dojo-nb trajectory notebooks side by side, scrolled together by step, with their score curves',
      execute: async args => {
        let left = typeof args.left === 'string' ? args.left : '';
        let right = typeof args.right === 'string' ? args.right : '';
        if (!left || !right) {
          const current = tracker.currentWidget?.context.path ?? '';
          const result = await showDialog({
            title: 'Compare trajectories',
            body: new PathsBody(left || current, right),
            buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Compare' })],
            focusNodeSelector: 'input'
          });
          if (!result.button.accept || !result.value) {
            return undefined;
          }
          left = result.value.left;
          right = result.value.right;
        }
        left = normalise(left);
        right = normalise(right);
        if (!left || !right) {
          await showErrorMessage('Compare trajectories', 'Give two trajectory notebook paths.');
          return undefined;
        }
        try {
          const out = await compare(left, right);
          return { left: out.left, right: out.right, curves: out.curves };
        } catch (err) {
          await showErrorMessage('Compare trajectories', String((err as Error).message ?? err));
          return undefined;
        }
      }
    });
    palette?.addItem({ command: COMMAND_ID, category: 'dojo-nb' });
    console.log(`${PLUGIN_ID} activated`);
  }
};

export default plugin;
