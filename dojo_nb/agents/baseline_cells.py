"""The baseline agent's cells for inputs that are not one train.csv and one test.csv.

Real competitions (MLE-bench, MLE-Dojo) ship JSON records, JSON lines, zips or folders of
images, text columns, several target columns, a sample submission named any way. These
cells find what is there from the files alone, the way a person would, and build one simple
model per target: TF-IDF for text columns, one-hot for categories, a few pixels per image.
Every cell is plain code that reads only what earlier cells of this group defined, so the
group replays on its own whatever happened before it. When a cell raises (the targets are not
in the training data, the ids cannot be matched), the agent copies the sample submission.
"""

from __future__ import annotations

from typing import Any

GENERIC_LOAD = '''\
import os, io, json, zipfile
import numpy as np
import pandas as pd

ID, TARGETS, KIND, METRIC = {id_column!r}, {targets!r}, {kind!r}, {metric!r}
top = sorted(os.listdir(INPUT_DIR))
sample_name = sorted((f for f in top if f.lower().replace("_", "").startswith("samplesubmission")
                      and f.lower().endswith(".csv")), key=len)[0]
sample = pd.read_csv(os.path.join(INPUT_DIR, sample_name))
if ID not in sample.columns:
    ID = sample.columns[0]
TARGETS = [c for c in TARGETS if c in sample.columns and c != ID] or [c for c in sample.columns if c != ID]

def frame_of(raw, name):
    """A table from CSV, JSON (a list of records) or JSON lines bytes."""
    low = name.lower()
    if low.endswith((".csv", ".tsv")):
        return pd.read_csv(io.BytesIO(raw), sep="\\t" if low.endswith(".tsv") else ",")
    if low.endswith((".jsonl", ".ndjson")):
        return pd.read_json(io.BytesIO(raw), lines=True)
    data = json.loads(raw)
    return pd.DataFrame.from_records(data if isinstance(data, list) else [data])

def find_table(split):
    """The `split` ("train"/"test") table: a top-level CSV/JSON/JSONL, else one inside a zip."""
    kinds = (".csv", ".tsv", ".json", ".jsonl", ".ndjson")
    plain = [f for f in top if split in f.lower() and f.lower().endswith(kinds)
             and os.path.isfile(os.path.join(INPUT_DIR, f))]
    for f in sorted(plain, key=lambda f: (kinds.index(os.path.splitext(f.lower())[1]), len(f))):
        with open(os.path.join(INPUT_DIR, f), "rb") as fh:
            return frame_of(fh.read(), f), f
    for f in top:
        if split in f.lower() and f.lower().endswith(".zip"):
            with zipfile.ZipFile(os.path.join(INPUT_DIR, f)) as zf:
                inner = [n for n in zf.namelist() if n.lower().endswith(kinds)]
                if len(inner) == 1:
                    return frame_of(zf.read(inner[0]), f + ":" + inner[0]), f + ":" + inner[0]
    return None, None

train, train_from = find_table("train")
test, test_from = find_table("test")
print("sample", sample_name, sample.shape, "id", repr(ID), "targets", TARGETS)
print("train", train_from, None if train is None else train.shape)
print("test", test_from, None if test is None else test.shape)
if train is not None:
    print(train.head(3).to_string()[:1500])
'''

GENERIC_FEATURES = '''\
import scipy.sparse as sp
from PIL import Image
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import StandardScaler

if train is None:
    raise ValueError("no training table (train.csv/.json/.jsonl, or one inside train.zip) to learn from")
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")
images = {}  # file name -> (zip path or None, member or path)
for dirpath, _, names in os.walk(INPUT_DIR):
    for n in names:
        path = os.path.join(dirpath, n)
        if n.lower().endswith(IMAGE_EXT):
            images.setdefault(n, (None, path))
        elif n.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for m in zf.namelist():
                    if m.lower().endswith(IMAGE_EXT):
                        images.setdefault(os.path.basename(m), (path, m))

def image_column(df):
    """The column naming image files (most of its values are image file names), if any."""
    for c in df.columns:
        values = df[c].astype(str)
        if len(values) and values.map(lambda v: os.path.basename(v) in images).mean() > 0.9:
            return c
    return None

def pixels(names, size=8):
    out = np.zeros((len(names), size * size + 2))
    zips = {}
    for i, name in enumerate(names):
        where, member = images[os.path.basename(str(name))]
        if where is None:
            img = Image.open(member)
        else:
            zf = zips.setdefault(where, zipfile.ZipFile(where))
            img = Image.open(io.BytesIO(zf.read(member)))
        a = np.asarray(img.convert("L").resize((size, size)), dtype=float) / 255.0
        out[i] = np.r_[a.ravel(), a.mean(), a.std()]
    return out

label_source = None  # spooky-style: the targets are the classes of one training column
if not all(t in train.columns for t in TARGETS):
    for c in train.columns:
        if not pd.api.types.is_numeric_dtype(train[c]) and set(TARGETS) <= set(train[c].astype(str).unique()):
            label_source = c
    if label_source is None:
        raise ValueError(f"targets {TARGETS} are neither columns of the training table nor classes of one")

test_rows = test if test is not None else sample[[ID]]
image_col = image_column(train)
test_image_col = image_column(test_rows) if image_col else None
exclude = set(TARGETS) | {label_source}
parts, test_parts, used = [], [], []

def is_text(s):
    s = s.dropna().astype(str)
    return len(s) > 0 and s.nunique() > 0.5 * len(s) and s.str.contains(" ").mean() > 0.3

for c in [c for c in train.columns if c in test_rows.columns and c not in exclude and c != image_col]:
    a, b = train[c], test_rows[c]
    if a.map(lambda v: isinstance(v, (list, dict))).any():
        a, b = a.astype(str), b.astype(str)
    if pd.api.types.is_bool_dtype(a) or pd.api.types.is_numeric_dtype(a):
        if c == ID:
            continue
        a, b = a.astype(float), pd.to_numeric(b, errors="coerce").astype(float)
        fill = a.median() if a.notna().any() else 0.0
        scaler = StandardScaler().fit(a.fillna(fill).to_frame())
        parts.append(sp.csr_matrix(scaler.transform(a.fillna(fill).to_frame())))
        test_parts.append(sp.csr_matrix(scaler.transform(b.fillna(fill).to_frame())))
        used.append(c)
    elif is_text(a):
        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, max_features=20000, sublinear_tf=True)
        parts.append(vec.fit_transform(a.fillna("").astype(str)))
        test_parts.append(vec.transform(b.fillna("").astype(str)))
        used.append(f"{c} (text, TF-IDF)")
    elif c != ID and a.nunique() <= 50:
        cats = a.astype(str).value_counts().index[:50]
        parts.append(sp.csr_matrix(np.c_[[(a.astype(str) == v).to_numpy() for v in cats]].T.astype(float)))
        test_parts.append(sp.csr_matrix(np.c_[[(b.astype(str) == v).to_numpy() for v in cats]].T.astype(float)))
        used.append(f"{c} (one-hot)")
if image_col and test_image_col:
    parts.append(sp.csr_matrix(pixels(train[image_col])))
    test_parts.append(sp.csr_matrix(pixels(test_rows[test_image_col])))
    used.append(f"{image_col} (8x8 grey pixels of each image)")
if not parts:
    raise ValueError("no usable feature columns shared by the training and test data")
X, X_test = sp.hstack(parts).tocsr(), sp.hstack(test_parts).tocsr()
print("features", X.shape, "test", X_test.shape, "from", used)
'''

GENERIC_MODEL = '''\
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import cross_val_score

def classifier():
    return LogisticRegression(max_iter=2000, C=1.0)

def looks_continuous(y):
    return pd.api.types.is_float_dtype(y) and y.nunique() > 20

preds = {}
if label_source is not None:
    y = train[label_source].astype(str)
    model = classifier().fit(X, y)
    probs = model.predict_proba(X_test)
    classes = list(model.classes_)
    for t in TARGETS:
        preds[t] = probs[:, classes.index(t)] if t in classes else np.zeros(X_test.shape[0])
else:
    for t in TARGETS:
        rows = train[t].notna().to_numpy()
        y = train[t][rows]
        if y.nunique() < 2:
            preds[t] = np.full(X_test.shape[0], y.iloc[0] if len(y) else sample[t].iloc[0])
            continue
        if KIND == "probability":
            model = classifier().fit(X[rows], y)
            positive = max(model.classes_, key=lambda v: (str(v).lower() in ("1", "1.0", "true", "yes"), str(v)))
            preds[t] = model.predict_proba(X_test)[:, list(model.classes_).index(positive)]
        elif KIND == "label" and not looks_continuous(y):
            model = classifier().fit(X[rows], y if pd.api.types.is_numeric_dtype(y) else y.astype(str))
            if "@5" in METRIC or "map" in METRIC.lower():
                probs = model.predict_proba(X_test)
                top5 = np.argsort(-probs, axis=1)[:, :5]
                preds[t] = [" ".join(str(model.classes_[j]) for j in row) for row in top5]
            else:
                preds[t] = model.predict(X_test)
        else:
            log = ("log" in METRIC.lower() or "rmsle" in METRIC.lower()) and (y >= 0).all()
            yy = np.log1p(y.astype(float)) if log else y.astype(float)
            model = Ridge(alpha=1.0).fit(X[rows], yy)
            p = model.predict(X_test)
            preds[t] = np.clip(np.expm1(p), 0, None) if log else p
        if len(y) >= 20 and t == TARGETS[0]:
            try:
                print(f"{t}: 3-fold CV (sklearn's default score)", cross_val_score(model, X[rows], yy if KIND == "value" or looks_continuous(y) else y, cv=3).round(4))
            except Exception as exc:  # a tiny class: the CV is only informative
                print(f"{t}: no CV ({type(exc).__name__})")

sub = sample.copy()
if ID in test_rows.columns and test_rows[ID].is_unique and set(sample[ID]) <= set(test_rows[ID]):
    order = pd.Index(test_rows[ID]).get_indexer(sample[ID])
elif len(test_rows) == len(sample):
    order = np.arange(len(sample))
else:
    raise ValueError(f"cannot match the {len(test_rows)} test rows to the {len(sample)} sample rows")
for t in TARGETS:
    values = np.asarray(preds[t], dtype=object if not np.issubdtype(np.asarray(preds[t]).dtype, np.number) else float)
    sub[t] = values[order]
sub.to_csv(SUBMISSION_PATH, index=False)
print("wrote", SUBMISSION_PATH, sub.shape)
print(sub.head())
'''

SAMPLE_COPY = '''\
import os, shutil
top = sorted(os.listdir(INPUT_DIR))
sample_name = sorted((f for f in top if f.lower().replace("_", "").startswith("samplesubmission")
                      and f.lower().endswith(".csv")), key=len)[0]
shutil.copy(os.path.join(INPUT_DIR, sample_name), SUBMISSION_PATH)
print("fell back to the sample submission", sample_name, "(a constant prediction)")
'''


def generic_cells(task: dict[str, Any]) -> list[str]:
    """The load, features and model cells, filled with the task's id, targets and kind."""
    fill = {"id_column": task.get("id_column") or "id",
            "targets": list(task.get("target_columns") or []),
            "kind": task.get("submission_kind") or "value", "metric": str(task.get("metric") or "")}
    return [GENERIC_LOAD.format(**fill), GENERIC_FEATURES, GENERIC_MODEL]


__all__ = ["SAMPLE_COPY", "generic_cells"]
