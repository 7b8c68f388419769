/**
 * Reading dojo-nb's `metadata.dojo` from a notebook model.
 *
 * Cell metadata (written by dojo_nb/notebook.py): step (0 for the description and the
 * parameters cell, then 1, 2, ...), action_type, status, elapsed_s, kernel_restarted, and
 * where relevant reward and grading (submit/validate: valid, public_score,
 * public_position_score, best_public_position_score, lower_is_better, final).
 * Notebook metadata: task, agent, backend, final scores, ...
 */
import { ICellModel } from '@jupyterlab/cells';
import { INotebookModel } from '@jupyterlab/notebook';

export type Json = { [key: string]: any };

/** The `metadata.dojo` of a cell, or null when it has none. */
export function cellDojo(cell: ICellModel): Json | null {
  const value = cell.getMetadata('dojo');
  return value && typeof value === 'object' ? (value as Json) : null;
}

/** The notebook's `metadata.dojo`, or null. */
export function notebookDojo(model: INotebookModel | null): Json | null {
  if (!model) {
    return null;
  }
  const value = model.getMetadata('dojo');
  return value && typeof value === 'object' ? (value as Json) : null;
}

/** True when the notebook looks like a dojo-nb trajectory. */
export function isTrajectory(model: INotebookModel | null): boolean {
  if (!model) {
    return false;
  }
  if (notebookDojo(model)) {
    return true;
  }
  for (let i = 0; i < model.cells.length; i++) {
    if (cellDojo(model.cells.get(i))) {
      return true;
    }
  }
  return false;
}

/**
 * The key two trajectories are aligned on: the step, and for step 0 (description and
 * parameters cells) the action type, so both fixed cells keep their own anchor.
 */
export function alignKey(dojo: Json | null): string | null {
  if (!dojo || typeof dojo.step !== 'number') {
    return null;
  }
  return dojo.step > 0 ? `step:${dojo.step}` : `step:0:${dojo.action_type ?? ''}`;
}

function finite(x: unknown): number | null {
  return typeof x === 'number' && isFinite(x) ? x : null;
}

export function formatSeconds(s: unknown): string | null {
  const v = finite(s);
  if (v === null) {
    return null;
  }
  if (v < 1) {
    return `${Math.round(v * 1000)} ms`;
  }
  if (v < 60) {
    return `${v.toFixed(2)} s`;
  }
  return `${Math.floor(v / 60)} min ${Math.round(v % 60)} s`;
}

export function formatNumber(x: unknown, digits = 4): string {
  const v = finite(x);
  return v === null ? '–' : String(Number(v.toPrecision(digits)));
}

/** The pieces of a cell's badge: [css modifier, text] pairs. */
export function badgeParts(dojo: Json): Array<[string, string]> {
  const parts: Array<[string, string]> = [];
  if (typeof dojo.step === 'number') {
    parts.push(['step', dojo.step > 0 ? `step ${dojo.step}` : String(dojo.action_type ?? 'step 0')]);
  }
  if (dojo.action_type && dojo.step > 0) {
    parts.push(['action', String(dojo.action_type)]);
  }
  if (dojo.status) {
    parts.push([`status dojo-nb-status-${String(dojo.status).replace(/[^a-z_]/gi, '')}`, String(dojo.status)]);
  }
  const time = formatSeconds(dojo.elapsed_s);
  if (time) {
    parts.push(['time', time]);
  }
  if (dojo.kernel_restarted) {
    parts.push(['restart', 'kernel restarted']);
  }
  const reward = finite(dojo.reward);
  if (reward !== null) {
    parts.push([reward > 0 ? 'reward dojo-nb-reward-positive' : 'reward', `reward ${reward >= 0 ? '+' : ''}${formatNumber(reward)}`]);
  }
  const g = dojo.grading;
  if (g && typeof g === 'object' && dojo.action_type === 'submit') {
    if (g.valid === false) {
      parts.push(['score', 'invalid submission']);
    } else if (finite(g.public_score) !== null) {
      parts.push(['score', `score ${formatNumber(g.public_score)} (pos ${formatNumber(g.public_position_score, 3)})`]);
    }
  }
  return parts;
}

/** One submission on a score curve. */
export interface IScorePoint {
  step: number;
  /** Public position score, 0..1 (share of the reference leaderboard beaten). */
  position: number | null;
  /** The task metric on the public split. */
  score: number | null;
  final: boolean;
}

export interface IScoreSeries {
  label: string;
  points: IScorePoint[];
  lastStep: number;
  lowerIsBetter: boolean;
  metric: string;
  final: Json | null;
}

/** The graded submissions of a trajectory, in step order. */
export function scoreSeries(model: INotebookModel, label: string): IScoreSeries {
  const points: IScorePoint[] = [];
  let lastStep = 0;
  let lowerIsBetter = false;
  for (let i = 0; i < model.cells.length; i++) {
    const d = cellDojo(model.cells.get(i));
    if (!d || typeof d.step !== 'number') {
      continue;
    }
    lastStep = Math.max(lastStep, d.step);
    const g = d.grading;
    if (d.action_type !== 'submit' || !g || typeof g !== 'object' || g.valid !== true) {
      continue;
    }
    if (typeof g.lower_is_better === 'boolean') {
      lowerIsBetter = g.lower_is_better;
    }
    points.push({
      step: d.step,
      position: finite(g.public_position_score),
      score: finite(g.public_score),
      final: g.final === true
    });
  }
  const meta = notebookDojo(model) ?? {};
  const task = meta.task && typeof meta.task === 'object' ? meta.task : {};
  if (typeof task.lower_is_better === 'boolean') {
    lowerIsBetter = task.lower_is_better;
  }
  return {
    label,
    points,
    lastStep,
    lowerIsBetter,
    metric: String(task.metric ?? 'score'),
    final: meta.final && typeof meta.final === 'object' ? meta.final : null
  };
}
