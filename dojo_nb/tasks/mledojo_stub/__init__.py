"""dojo-nb's stand-in for MLE-Dojo's `mledojo` package, written for dojo-nb.

Every MLE-Dojo metric file starts with `from mledojo.metrics.base import CompetitionMetrics,
InvalidSubmissionError`. Installing MLE-Dojo for that one import would pull in its agents and gym;
`dojo_nb.tasks.mledojo_loader` registers this package as `mledojo` only when no real one imports.
"""
