"""The exception graders raise for a submission that cannot be scored."""


class InvalidSubmissionError(Exception):
    """A submission the grader refuses; its text is shown to the submitter."""
