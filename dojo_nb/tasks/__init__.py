"""The task side: catalogue, deterministic preparation, validation and grading.

Knows nothing about kernels. A `Task` is data; what is done with one is a function here
(`prepare_task`, `validate_submission`, `grade_submission`, `load_leaderboard`). See docs/interfaces.md for the seam the environment uses.
"""

from dojo_nb.tasks.catalogue import list_tasks, load_task
from dojo_nb.tasks.grading import GradeReport, Validation, grade_submission, validate_submission
from dojo_nb.tasks.cache import PreparedData, prepare_task
from dojo_nb.tasks.leaderboard import Leaderboard, load_leaderboard
from dojo_nb.tasks.spec import Task, TaskError

__all__ = [
    "GradeReport", "Leaderboard", "PreparedData", "Task", "TaskError", "Validation", "grade_submission",
    "list_tasks", "load_leaderboard", "load_task", "prepare_task", "validate_submission",
]
