/**
 * Trajectories open read-only: Lab never rewrites a record it shows.
 *
 * A file named `trajectory.ipynb` (the name dojo_nb/record/layout.py gives it) opens with the
 * "Trajectory" viewer by default: a notebook panel with no kernel, not in the notebook tracker
 * (so other extensions that expect a kernel leave it alone), that cannot be saved. Any other
 * notebook whose metadata says it is a trajectory is made read-only once loaded. Saving is off
 * through `context.canSave`, which Lab's autosave and save-on-close consult, and the document
 * never shows as changed (what changes in memory, e.g. the kernelspec Lab writes when a kernel
 * starts, is not the record's); "Edit" in the toolbar turns saving back on for that document,
 * on purpose.
 * Cells are not made read-only one by one: `cell.readOnly` writes `metadata.editable`.
 */
import { DocumentRegistry, DocumentWidget } from '@jupyterlab/docregistry';
import { NotebookPanel, NotebookWidgetFactory } from '@jupyterlab/notebook';
import { ToolbarButton } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

export const FACTORY = 'Trajectory (dojo-nb, read-only)';
export const FILE_TYPE = 'dojo-trajectory';

const READ_ONLY_CLASS = 'dojo-nb-read-only';

type Context = DocumentRegistry.IContext<DocumentRegistry.IModel>;

const locked = new WeakSet<Context>();
const watched = new WeakSet<Context>();
/** Documents a person chose to edit (Edit): not locked again when another view opens them. */
const released = new WeakSet<Context>();

/** Whether saving a document is off because it is a trajectory. */
export function isLocked(context: Context): boolean {
  return locked.has(context);
}

/**
 * Turn saving off (or on again) for `context`. Lab asks two things before it writes a document:
 * `canSave` (autosave, save-on-close) and `contentsModel.writable` (the Save command, Ctrl+S);
 * while locked both say no, as for a file the server reports read-only.
 */
export function setLocked(context: Context, on: boolean): void {
  if (on === locked.has(context)) {
    return;
  }
  if (!watched.has(context)) {
    watched.add(context);
    // Own properties shadow the prototype's getters, for this document only.
    const proto = Object.getPrototypeOf(context);
    const canSave = Object.getOwnPropertyDescriptor(proto, 'canSave');
    const contents = Object.getOwnPropertyDescriptor(proto, 'contentsModel');
    Object.defineProperty(context, 'canSave', {
      configurable: true,
      get: () => !locked.has(context) && (canSave?.get ? Boolean(canSave.get.call(context)) : true)
    });
    Object.defineProperty(context, 'contentsModel', {
      configurable: true,
      get: () => {
        const model = contents?.get?.call(context);
        return model && locked.has(context) ? { ...model, writable: false } : model;
      }
    });
    const model = context.model;
    model.stateChanged.connect((_, change) => {
      if (change.name === 'dirty' && change.newValue === true && locked.has(context)) {
        model.dirty = false;
      }
    });
  }
  if (on) {
    locked.add(context);
  } else {
    locked.delete(context);
  }
  context.model.readOnly = on;
  if (on) {
    context.model.dirty = false;
  }
}

/** A notebook panel shown read-only: saving off, a toolbar note and an Edit button. */
export function showLocked(panel: NotebookPanel, onEdit?: () => void): void {
  if (panel.hasClass(READ_ONLY_CLASS) || released.has(panel.context)) {
    return;
  }
  setLocked(panel.context, true);
  panel.addClass(READ_ONLY_CLASS);

  const note = new Widget();
  note.addClass('dojo-nb-read-only-note');
  note.node.textContent = 'read-only trajectory';
  note.node.title = 'dojo-nb opens trajectories read-only, so Lab never rewrites the record. Edit to change it.';
  const edit = new ToolbarButton({
    label: 'Edit',
    className: 'dojo-nb-edit-trajectory',
    tooltip: 'Allow saving this trajectory (it is the episode record: File > Save As makes a copy instead)',
    onClick: () => {
      released.add(panel.context);
      setLocked(panel.context, false);
      panel.removeClass(READ_ONLY_CLASS);
      note.dispose();
      edit.dispose();
      onEdit?.();
    }
  });
  panel.toolbar.insertItem(0, 'dojo-nb-read-only', note);
  panel.toolbar.insertItem(1, 'dojo-nb-edit', edit);
}

/** The Trajectory viewer: a notebook panel that starts no kernel and opens read-only. */
export class TrajectoryFactory extends NotebookWidgetFactory {
  protected createNewWidget(context: DocumentRegistry.IContext<any>, source?: NotebookPanel): NotebookPanel {
    const panel = super.createNewWidget(context, source);
    panel.addClass('dojo-nb-trajectory-viewer');
    // The tab names the agent and episode, and a document's tab title is also Lab's way to
    // rename its file (DocumentWidget renames on title change): cut that link for this viewer.
    panel.title.changed.disconnect((panel as any)._onTitleChanged, panel);
    return panel;
  }
}

export function trajectoryFactory(options: NotebookWidgetFactory.IOptions<NotebookPanel>): TrajectoryFactory {
  return new TrajectoryFactory({
    ...options,
    name: FACTORY,
    label: 'Trajectory (read-only)',
    fileTypes: ['notebook', FILE_TYPE],
    // Not setDefaultWidgetFactory: that is the user-override map, which Lab's settings reset.
    defaultFor: [FILE_TYPE],
    modelName: 'notebook',
    preferKernel: false,
    canStartKernel: false,
    readOnly: true
  });
}

/** The file type that makes the Trajectory viewer the default for `trajectory.ipynb`. */
export function trajectoryFileType(icon: DocumentRegistry.IFileType['icon']): Partial<DocumentRegistry.IFileType> {
  return {
    name: FILE_TYPE,
    displayName: 'dojo-nb trajectory',
    extensions: ['.ipynb'],
    pattern: '^trajectory\\.ipynb$',
    mimeTypes: ['application/x-ipynb+json'],
    contentType: 'notebook',
    fileFormat: 'json',
    icon
  };
}

export function isDocumentWidget(w: Widget | null): w is DocumentWidget {
  return !!w && (w as DocumentWidget).context !== undefined;
}
