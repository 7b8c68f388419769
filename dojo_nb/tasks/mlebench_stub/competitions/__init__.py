"""Helpers shared by competition graders (`mlebench.competitions.utils`)."""
