"""The base class and exception MLE-Dojo metric classes build on, with the same behaviour."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any


class CompetitionMetrics:
    """A competition's metric: `higher_is_better`, `validate_submission`, `evaluate`.

    Subclasses are recorded in `subclasses`, as MLE-Dojo's registry finds them that way.
    """

    subclasses: list[type] = []

    def __init__(self, higher_is_better: bool = True) -> None:
        self.higher_is_better = higher_is_better

    @abstractmethod
    def evaluate(self, y_true: Any, y_pred: Any) -> float:
        """The score of predictions y_pred against the answers y_true."""

    @abstractmethod
    def validate_submission(self, submission: Any, ground_truth: Any) -> Any:
        """Raise InvalidSubmissionError when the submission cannot be scored."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        CompetitionMetrics.subclasses.append(cls)


class InvalidSubmissionError(Exception):
    """A submission the metric refuses; its text is shown to the submitter."""
