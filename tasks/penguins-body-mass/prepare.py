"""Prepare penguins-body-mass: the palmerpenguins package (Gorman, Williams and Fraser, 2014). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

import palmerpenguins

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    frame = palmerpenguins.load_penguins().dropna(subset=["body_mass_g"])
    frame = frame[["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "sex", "year", "body_mass_g"]]
    train, test = split_rows(frame, test_size=0.35)
    write_competition(public, private, train, test, target="body_mass_g", kind="value")
