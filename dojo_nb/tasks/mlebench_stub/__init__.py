"""dojo-nb's stand-in for MLE-bench's `mlebench` package (which is not on PyPI).

Competition graders import a handful of helpers from `mlebench.*`; this package provides
equivalents written for dojo-nb so those imports resolve without installing MLE-bench.
`dojo_nb.tasks.mlebench_loader` registers it under the name `mlebench` only when no real
`mlebench` is importable.
"""
