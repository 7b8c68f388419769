"""What the env tells: request_info's topics (`TOPICS`), the task's facts and the step info dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dojo_nb.env.rules import round_public
from dojo_nb.env.scoring import jsonable
from dojo_nb.record import view
from dojo_nb.record.metadata import EpisodeMeta
from dojo_nb.record.steps import list_steps

if TYPE_CHECKING:
    from dojo_nb.env.core import DojoEnv

#: Longest request_info answer.
MAX_INFO_CHARS = 20_000


def build_task_info(task: Any, task_id: str) -> dict[str, Any]:
    """Task metadata a scripted agent needs to work from files alone (the task's agent-safe facts)."""
    meta = jsonable(task.metadata())
    meta["id"] = task_id
    meta.setdefault("submission_kind", "csv")
    meta.setdefault("target_columns", [])
    return meta


def data_listing(env: DojoEnv, head: bool = True) -> str:
    return view.input_listing(env.state.layout.input_dir, str(env.state.kernel_paths["INPUT_DIR"]), head=head)


#: Packages the reset text reports (with the version the kernel has) when installed.
REPORTED_PACKAGES = ("numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "lightgbm", "xgboost",
                     "catboost", "torch", "tensorflow", "polars", "matplotlib", "seaborn", "optuna")
_FACTS_EXPR = (
    "__import__('json').dumps({'cpus': len(__import__('os').sched_getaffinity(0)), "
    "'python': __import__('platform').python_version(), "
    "'packages': sorted({(str(d.metadata['Name']).lower(), d.version) for d in "
    "__import__('importlib.metadata').metadata.distributions() if str(d.metadata['Name']).lower() in "
    f"{set(REPORTED_PACKAGES)!r}}})}})"
)


def kernel_facts(env: DojoEnv) -> dict[str, Any]:
    """Hardware, limits and packages of this episode's kernel: asked of the kernel, the limits
    from the sandbox spec it was started with (so the reset text tells what is really there)."""
    from dojo_nb.env.progress import _literal
    from dojo_nb.kernel import SandboxSpec

    spec = SandboxSpec(root=env.state.layout.root, **env.sandbox_limits)
    facts: dict[str, Any] = {"memory_mb": spec.memory_mb, "cpus_limit": spec.cpus, "disk_mb": spec.disk_mb,
                             "gpus": spec.gpus, "network": bool(spec.network)}
    try:
        found = env.state.session.probe({"facts": _FACTS_EXPR}, timeout=10.0) if env.state.session else {}
        told = json.loads(_literal(found.get("facts")) or "{}")
    except (ValueError, TypeError, AttributeError):
        told = {}
    if isinstance(told, dict):
        facts["cpus_visible"] = told.get("cpus")
        facts["python"] = told.get("python")
        facts["packages"] = {str(n): str(v) for n, v in told.get("packages") or []}
    return facts


def reset_text(env: DojoEnv) -> str:
    """The first observation's text (rendered by `dojo_nb.record.view.reset_text`).

    The input listing is the one recorded at reset when there is one: export shows the very
    text, and a huge folder is walked once.
    """
    recorded = EpisodeMeta.of(env.state.trajectory).input_listing if env.state.trajectory is not None else None
    return view.reset_text(str(env.task.description or ""), env.state.kernel_paths,
                           recorded or data_listing(env, head=False), env.budgets.to_dict(),
                           rules=env.rules.to_dict(), facts=env.state.kernel_facts)


def step_info(env: DojoEnv) -> dict[str, Any]:
    """The info dict of reset, resume and every step."""
    state = env.state
    info = {
        "task": env.task_info(),
        "episode_dir": str(state.episode_dir) if state.episode_dir else None,
        "sandbox_dir": str(state.sandbox_dir) if state.sandbox_dir else None,
        "paths": dict(state.kernel_paths),
        "submission_path": state.kernel_paths["SUBMISSION_PATH"],
        "submission_host_path": str(env.submission_host_path),
        "step": state.steps,
        "best_public_position_score": state.best,
        "reward_sum": state.reward_sum,
        "n_submissions": len(state.submissions),
        "submissions_left": max(0, env.rules.max_submissions - state.graded),
        "rules": env.rules.to_dict(),
    }
    if state.open and not env.rules.shows_scores:  # what a reward or a best would tell is hidden
        info["best_public_position_score"] = info["reward_sum"] = None
    if state.final is not None:
        info["final"] = json.loads(json.dumps(state.final))
        info["end_reason"] = state.end_reason
    return info


def sample_submissions(input_dir: Path) -> list[Path]:
    """The sample submission files at the top of the input folder, whatever their case
    (``sample_submission.csv``, ``sampleSubmission.csv``, ``sample_submission_null.csv``)."""
    if not input_dir.is_dir():
        return []
    found = [p for p in input_dir.iterdir() if p.is_file() and not p.is_symlink()
             and p.name.lower().replace("_", "").startswith("samplesubmission")]
    return sorted(found, key=lambda p: (len(p.name), p.name))


# --- request_info topics ----------------------------------------------------------------------
def description(env: DojoEnv) -> str:
    return str(env.task.description or "(no description)")


def data(env: DojoEnv) -> str:
    return "Files in INPUT_DIR (read-only; first lines of text files shown):\n" + data_listing(env)


def submission_format(env: DojoEnv) -> str:
    t = env.task_info()
    lines = [f"Write a CSV file to SUBMISSION_PATH = {env.state.kernel_paths['SUBMISSION_PATH']!r} "
             f"(one row per test id; predictions of kind {t['submission_kind']!r})."]
    if t.get("classes"):
        lines.append(f"Classes: {', '.join(map(repr, t['classes']))}.")
    if t["id_column"]:
        lines.append(f"Columns: {t['id_column']!r} (the row id) then {', '.join(map(repr, t['target_columns']))}.")
    elif t["target_columns"]:
        lines.append(f"Columns: {', '.join(map(repr, t['target_columns']))}.")
    samples = sample_submissions(env.state.layout.input_dir)
    if samples:
        rel = samples[0].name
        with open(samples[0], encoding="utf-8", errors="replace") as fh:
            first = [fh.readline().rstrip("\n")[:300] for _ in range(4)]
        lines.append(f"Example (INPUT_DIR/{rel}):")
        lines += [f"  {line}" for line in first if line]
    lines.append('Check it with {"type": "validate"} before {"type": "submit"}.')
    return "\n".join(lines)


def metric(env: DojoEnv) -> str:
    t = env.task_info()
    better = "lower" if t["lower_is_better"] else "higher"
    r = env.rules
    shown = {"public": "you are shown the public score rounded to 5 decimals and its position score "
                       "(0..1: the share of a reference leaderboard you beat)",
             "validity": "you are shown only whether the file is valid, no score",
             "none": "you are shown nothing of the grade"}[r.feedback]
    return (f"Metric: {t['metric']} ({better} is better), computed on the public part of the hidden "
            f"answers when you submit; {shown}. At most {r.max_submissions} graded submissions "
            f"({max(0, r.max_submissions - env.state.graded)} left; invalid files do not count; validate is "
            "free). The private score and medal are computed only when the episode ends. Reward "
            f"mode {r.reward!r}: the gain in public position score over your best so far"
            + (" (paid at the end)" if not r.shows_scores else "")
            + ("; plus small one-off bonuses for loading data, fitting a model, printing a validation "
               "score, writing and validating a submission; the end pays your final private position"
               if r.reward == "shaped" else "") + ".")


def history(env: DojoEnv) -> str:
    state = env.state
    assert state.trajectory is not None
    nb = state.trajectory.to_notebook()
    shows = env.rules.shows_scores
    lines = [f"Step {state.steps} of {env.budgets.max_steps}; {state.seconds_left(env.budgets):.0f} s left; "
             + (f"best public position score {state.best:.4f}; " if shows else "")
             + f"{max(0, env.rules.max_submissions - state.graded)} graded submission(s) left."]
    for s in list_steps(nb)[-50:]:
        line = f"  step {s.step}: cell {s.cell_index} {s.action_type} -> {s.status}"
        if s.reward and shows:
            line += f" (reward {s.reward:+.4f})"
        lines.append(line)
    for sub in state.submissions:
        if not shows:
            valid = f"valid={sub.valid}" if env.rules.feedback == "validity" else "received"
            lines.append(f"  submission at step {sub.step}: {valid}")
            continue
        lines.append(f"  submission at step {sub.step}: valid={sub.valid} "
                     f"public_score={round_public(sub.public_score)} "
                     f"public_position_score={sub.public_position_score}")
    return "\n".join(lines)


#: request_info topic -> its text (every topic of `dojo_nb.actions.INFO_TOPICS`).
TOPICS: dict[str, Callable[[DojoEnv], str]] = {
    "description": description,
    "data": data,
    "submission_format": submission_format,
    "metric": metric,
    "history": history,
}

__all__ = ["MAX_INFO_CHARS", "REPORTED_PACKAGES", "TOPICS", "build_task_info", "kernel_facts", "reset_text",
           "step_info"]
