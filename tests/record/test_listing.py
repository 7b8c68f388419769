"""The input listing names every kind of input with what is cheap to know, and stays short."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from dojo_nb.record.listing import MAX_LINES, describe_inputs
from dojo_nb.record.view import input_listing


def _inputs(root: Path) -> Path:
    root.mkdir()
    (root / "train.csv").write_text("id,text,label\n1,\"a, b\",0\n2,c,1\n3,d,0\n")
    (root / "train.json").write_text(json.dumps([{"request_id": "t1", "got": True}, {"request_id": "t2", "got": False}]))
    (root / "test.jsonl").write_text('{"example_id": 1, "q": "x"}\n{"example_id": 2, "q": "y"}\n')
    with zipfile.ZipFile(root / "images.zip", "w") as zf:
        for i in range(7):
            zf.writestr(f"train/{i}.jpg", b"not really a jpeg")
    (root / "pngs").mkdir()
    for i in range(40):
        (root / "pngs" / f"{i}.png").write_bytes(b"x")
    (root / "few").mkdir()
    (root / "few" / "a.txt").write_text("one\ntwo\n")
    for i in range(30):  # one sub-folder per sample, as nomad2018 ships its geometries
        (root / "per-sample" / str(i)).mkdir(parents=True)
        (root / "per-sample" / str(i) / "geometry.xyz").write_text("H 0 0 0\n")
    os.symlink("/etc/passwd", root / "link.csv")
    return root


def test_every_kind_is_described(tmp_path: Path) -> None:
    text = describe_inputs(_inputs(tmp_path / "in"), "/in")
    assert "/in/train.csv  (" in text and "CSV, 3 rows x 3 columns: id, text, label" in text
    assert "JSON list of 2 records, keys: request_id, got" in text
    assert "JSON lines, 2 records, keys: example_id, q" in text
    assert "zip of 7 files" in text and "7 images; in train/" in text
    assert "/in/pngs/  (folder: 40 files" in text and "40 .png" in text and "/in/pngs/3.png" not in text
    assert "/in/few/a.txt  (8 bytes; text, 2 lines)" in text
    assert "/in/per-sample/  (folder: 30 files, 30 sub-folders" in text and "30 .xyz" in text
    assert "link.csv" not in text  # links are never followed, nor listed


def test_a_huge_folder_gives_a_bounded_listing(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for d in range(200):
        sub = root / f"d{d:03d}"
        sub.mkdir(parents=True)
        (sub / "x.csv").write_text("a\n1\n")
    text = describe_inputs(root, "/in")
    lines = text.splitlines()
    assert len(lines) <= MAX_LINES + 1 and "more entries left out" in lines[-1]
    # fewer than MAX_SUBFOLDERS at the top would be listed one by one; 200 are not all shown
    assert sum("/in/d" in line for line in lines) < 200


def test_the_plain_listing_of_older_episodes_is_kept(tmp_path: Path) -> None:
    root = _inputs(tmp_path / "in")
    plain = input_listing(root, "/in", detailed=False)
    assert "  /in/train.csv  (" in plain and "CSV" not in plain
