"""The Gymnasium environment: one episode = one live sandboxed kernel + one notebook.

The rooms (each a module a reader can open on its own):

- `core`: `DojoEnv` (reset, step, render, close, resume) and `make`; the small Gymnasium surface.
- `state`: the episode state as one object (`EpisodeState`) and the `Budgets`.
- `handlers`: the action handlers, in one table keyed by action type (`HANDLERS`);
  `submitting`: validate and submit (the safe copy out of the sandbox).
- `info`: request_info's topics (`TOPICS`), the task's facts, the step info dict, the reset text.
- `scoring`: the reward and final rules.
- `sandbox`: limits, pool, episode folder, and the one kernel set-up reset and resume share.
- `ending`: the end of an episode (final grade, summary.json); `resume`: carrying one on.
- `spaces`: the action and observation spaces and the observation builder.

The episode folder's format (file names, ``metadata.dojo``) belongs to `dojo_nb.record`.
"""

from dojo_nb.env.core import DojoEnv, env_spec, make
from dojo_nb.env.resume import ResumeError, kept_submission, load_for_resume, resume
from dojo_nb.env.scoring import FINAL_RULE
from dojo_nb.env.spaces import OBS_KEYS, STATUSES, ActionSpace, ObservationSpace
from dojo_nb.record import layout as _layout

SUMMARY_NAME = _layout.SUMMARY
REPLAY_NAME = _layout.REPLAY_JSON
SUBMISSION_FILENAME = _layout.SUBMISSION_FILENAME
_load_for_resume = load_for_resume  # old private names, kept for callers of the single module
_kept_submission = kept_submission

__all__ = ["DojoEnv", "make", "resume", "ResumeError", "ActionSpace", "ObservationSpace", "STATUSES", "OBS_KEYS",
           "FINAL_RULE", "env_spec", "load_for_resume"]
