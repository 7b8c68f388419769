"""Prepare penguins-species: the palmerpenguins package (Gorman, Williams and Fraser, 2014). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

import palmerpenguins

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    frame = palmerpenguins.load_penguins()
    frame = frame[["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year", "species"]]
    train, test = split_rows(frame, test_size=0.4, stratify="species")
    write_competition(public, private, train, test, target="species", kind="probability",
                      classes=["Adelie", "Chinstrap", "Gentoo"])
