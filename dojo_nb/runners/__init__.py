"""Runners: drive agents over episodes, one at a time or many at once.

- `episodes`: `run_episode` and `run_many` (a process pool), with their `EpisodeOutcome`.
- `resume`: pick up an episode whose driver died.
- `vector`: a Gymnasium `VectorEnv` of episodes stepped together.
- `ray_engine`: `run_many` across a Ray cluster (extra: ray).
- `loadtest`: many concurrent episodes, counting leaked kernels and containers.
"""
