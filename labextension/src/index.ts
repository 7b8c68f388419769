/**
 * dojo-nb-lab: read and compare dojo-nb trajectory notebooks in JupyterLab 4.
 *
 * - `trajectory.ipynb` opens in the read-only Trajectory viewer (src/readonly.ts): no kernel,
 *   never saved, tab named by agent and episode; any other trajectory opens read-only too.
 * - Command `dojo-nb:compare` ("Compare trajectories", in the command palette; "Compare
 *   with..." in the file browser's context menu): asks the server extension for the pairing
 *   (src/pairing.ts: the static compare page's alignment), refuses what is not a trajectory,
 *   asks before comparing two tasks, then opens both side by side, scrolled together by
 *   paired cell, with a score-curve panel whose points scroll to their cell.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, showDialog, showErrorMessage, WidgetTracker } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { PathExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookTracker, INotebookWidgetFactory, NotebookPanel, NotebookWidgetFactory } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { notebookIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { ScoreCurves } from './chart';
import { decorateNotebook } from './decorate';
import { cellDojo, isTrajectory, notebookDojo, scoreSeries } from './dojo';
import { fetchPairing, IPairing, PairingError, partnerMap } from './pairing';
import { FACTORY, FILE_TYPE, showLocked, trajectoryFactory, trajectoryFileType } from './readonly';
import { ScrollSync } from './sync';

export const PLUGIN_ID = 'dojo-nb-lab:plugin';
export const COMMAND_ID = 'dojo-nb:compare';
export const COMPARE_WITH_ID = 'dojo-nb:compare-with';

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

/** Agent and episode folder, as the static pages name an episode (EpisodeData.label). */
function episodeLabel(panel: NotebookPanel): string {
  const agent = String(notebookDojo(panel.content.model)?.agent ?? 'unknown agent');
  const folder = PathExt.basename(PathExt.dirname(panel.context.path)) || panel.context.path;
  return folder === agent ? agent : `${agent} · ${folder}`;
}

/** Scroll `panel` to the cell of `step` (its submission, when it has one) and mark it. */
async function scrollToStep(app: JupyterFrontEnd, panel: NotebookPanel, step: number): Promise<void> {
  const cells = panel.content.widgets;
  let index = cells.findIndex(c => cellDojo(c.model)?.step === step && cellDojo(c.model)?.action_type === 'submit');
  if (index < 0) {
    index = cells.findIndex(c => cellDojo(c.model)?.step === step);
  }
  if (index < 0) {
    return;
  }
  app.shell.activateById(panel.id);
  panel.content.activeCellIndex = index;
  await panel.content.scrollToItem(index, 'start');
  for (const c of cells) {
    c.removeClass('dojo-nb-scrolled-to');
  }
  cells[index].addClass('dojo-nb-scrolled-to');
}

let counter = 0;

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Read dojo-nb trajectories read-only, and compare two side by side.',
  autoStart: true,
  requires: [IDocumentManager, INotebookTracker, IRenderMimeRegistry, NotebookPanel.IContentFactory, IEditorServices],
  optional: [ICommandPalette, IFileBrowserFactory, ILayoutRestorer, INotebookWidgetFactory],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    contentFactory: NotebookPanel.IContentFactory,
    editorServices: IEditorServices,
    palette: ICommandPalette | null,
    browsers: IFileBrowserFactory | null,
    restorer: ILayoutRestorer | null,
    notebookFactory: NotebookWidgetFactory.IFactory | null
  ) => {
    // The read-only Trajectory viewer, the default for trajectory.ipynb.
    const factory = trajectoryFactory({
      name: FACTORY,
      fileTypes: [],
      rendermime,
      contentFactory,
      mimeTypeService: editorServices.mimeTypeService,
      editorConfig: notebookFactory?.editorConfig,
      notebookConfig: notebookFactory?.notebookConfig
    });
    app.docRegistry.addFileType(trajectoryFileType(notebookIcon));
    app.docRegistry.addWidgetFactory(factory);
    const viewers = new WidgetTracker<NotebookPanel>({ namespace: 'dojo-nb-trajectory' });
    restorer?.restore(viewers, {
      command: 'docmanager:open',
      args: p => ({ path: p.context.path, factory: FACTORY }),
      name: p => p.context.path
    });
    factory.widgetCreated.connect((_, panel) => {
      void viewers.add(panel);
      panel.context.pathChanged.connect(() => {
        void viewers.save(panel);
        panel.title.label = episodeLabel(panel);
      });
      void panel.context.ready.then(() => {
        if (panel.isDisposed) {
          return;
        }
        panel.title.label = episodeLabel(panel);
        panel.title.caption = `${panel.context.path} (read-only trajectory)`;
        panel.title.icon = notebookIcon;
        decorateNotebook(panel);
        showLocked(panel, () => {
          // Editing on purpose: saving is back; a kernel may be picked (Open With > Notebook runs cells).
          panel.sessionContext.kernelPreference = { ...panel.sessionContext.kernelPreference, canStart: true };
        });
      });
    });

    // Any trajectory opened as an ordinary notebook: badges, and read-only too.
    tracker.widgetAdded.connect((_, panel) => {
      void panel.context.ready.then(() => {
        if (!panel.isDisposed && isTrajectory(panel.content.model)) {
          decorateNotebook(panel);
          showLocked(panel);
        }
      });
    });

    const currentPath = () =>
      (tracker.currentWidget ?? viewers.currentWidget)?.context.path ?? '';

    async function confirmTasks(pairing: IPairing): Promise<boolean> {
      const result = await showDialog({
        title: 'Different tasks',
        body:
          `A (${pairing.a.label}) is ${pairing.a.task}, B (${pairing.b.label}) is ${pairing.b.task}: ` +
          'their scores are on different scales and their cells have little to align.',
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Compare anyway' })]
      });
      return result.button.accept;
    }

    async function open(path: string, options: DocumentRegistry.IOpenOptions): Promise<NotebookPanel> {
      const panel = docManager.openOrReveal(path, FACTORY, undefined, options) as NotebookPanel | undefined;
      if (!panel) {
        throw new Error(`Cannot open ${path} as a trajectory`);
      }
      await panel.context.ready;
      await panel.revealed;
      return panel;
    }

    async function compare(left: string, right: string, allowDifferentTasks: boolean) {
      if (left === right) {
        throw new PairingError(`Both sides are the same notebook (${left}): choose two trajectories.`);
      }
      const pairing = await fetchPairing(left, right);
      if (!pairing.same_task && !allowDifferentTasks && !(await confirmTasks(pairing))) {
        return null;
      }
      const a = await open(left, { mode: 'tab-after' });
      const b = await open(right, { mode: 'split-right', ref: a.id });
      a.addClass('dojo-nb-compare-left');
      b.addClass('dojo-nb-compare-right');
      a.title.label = `A: ${pairing.a.label}`;
      b.title.label = `B: ${pairing.b.label}`;
      const partners = new Map([
        [a, partnerMap(pairing, 'a', a.content.widgets.length)],
        [b, partnerMap(pairing, 'b', b.content.widgets.length)]
      ]);
      const sync = new ScrollSync(a, b, partners);
      const panels = [a, b];
      const series = () => [
        scoreSeries(a.content.model!, `A: ${pairing.a.label}`),
        scoreSeries(b.content.model!, `B: ${pairing.b.label}`)
      ];
      const chart = new ScoreCurves(series(), (i, step) => void scrollToStep(app, panels[i], step));
      chart.id = `dojo-nb-curves-${++counter}`;
      chart.title.label = `Scores: ${pairing.a.label} vs ${pairing.b.label}`;
      if (!pairing.same_task) {
        chart.title.label += ' (different tasks)';
        chart.addClass('dojo-nb-curves-different-tasks');
      }
      app.shell.add(chart, 'main', { mode: 'split-bottom' });
      const refresh = () => {
        if (!chart.isDisposed) {
          chart.series = series();
        }
      };
      a.context.fileChanged.connect(refresh);
      b.context.fileChanged.connect(refresh);
      app.shell.activateById(a.id);
      return { left: a.id, right: b.id, curves: chart.id, rows: pairing.rows, method: pairing.method, sync };
    }

    async function run(left: string, right: string, allowDifferentTasks: boolean) {
      left = normalise(left);
      right = normalise(right);
      if (!left || !right) {
        await showErrorMessage('Compare trajectories', 'Give two trajectory notebook paths.');
        return undefined;
      }
      try {
        const out = await compare(left, right, allowDifferentTasks);
        return out ? { left: out.left, right: out.right, curves: out.curves, rows: out.rows, method: out.method } : undefined;
      } catch (err) {
        await showErrorMessage('Compare trajectories', String((err as Error).message ?? err));
        return undefined;
      }
    }

    async function ask(left: string, right: string): Promise<{ left: string; right: string } | null> {
      const result = await showDialog({
        title: 'Compare trajectories',
        body: new PathsBody(left, right),
        buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Compare' })],
        focusNodeSelector: 'input'
      });
      return result.button.accept && result.value ? result.value : null;
    }

    app.commands.addCommand(COMMAND_ID, {
      label: 'Compare trajectories',
      caption: 'Open two dojo-nb trajectories side by side, paired cell by cell as `dojo-nb compare` pairs them',
      execute: async args => {
        let left = typeof args.left === 'string' ? args.left : '';
        let right = typeof args.right === 'string' ? args.right : '';
        if (!left || !right) {
          const paths = await ask(left || currentPath(), right);
          if (!paths) {
            return undefined;
          }
          ({ left, right } = paths);
        }
        return run(left, right, args.allowDifferentTasks === true);
      }
    });
    palette?.addItem({ command: COMMAND_ID, category: 'dojo-nb' });

    app.commands.addCommand(COMPARE_WITH_ID, {
      label: 'Compare with…',
      caption: 'Compare this trajectory (or episode folder) with another; with two selected, compare those two',
      isVisible: () => !!browsers?.tracker.currentWidget,
      execute: async () => {
        const browser = browsers?.tracker.currentWidget;
        if (!browser) {
          return undefined;
        }
        const picked = Array.from(browser.selectedItems()).map(item => item.path);
        if (picked.length === 2) {
          return run(picked[0], picked[1], false);
        }
        const paths = await ask(picked[0] ?? '', '');
        return paths ? run(paths.left, paths.right, false) : undefined;
      }
    });
    for (const selector of [
      `.jp-DirListing-item[data-file-type="${FILE_TYPE}"]`,
      '.jp-DirListing-item[data-file-type="notebook"]',
      '.jp-DirListing-item[data-isdir="true"]'
    ]) {
      app.contextMenu.addItem({ command: COMPARE_WITH_ID, selector, rank: 3 });
    }
    console.log(`${PLUGIN_ID} activated`);
  }
};

export default plugin;
