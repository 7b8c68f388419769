"""Scripted cells for the search tests (penguins-species: log loss, lower is better)."""

LOAD = """\
import os
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.metrics import log_loss
train = pd.read_csv(os.path.join(INPUT_DIR, "train.csv"))
test = pd.read_csv(os.path.join(INPUT_DIR, "test.csv"))
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
NUM = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
X = train[NUM].fillna(train[NUM].median())
X_test = test[NUM].fillna(train[NUM].median())
y = train["species"]
X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, random_state=SEED, stratify=y)
"""

# An honest draft: a real hold-out log loss, a real model's probabilities.
DRAFT_GOOD = LOAD + """\
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
FORK_TOKEN = "token-of-the-good-draft"
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
model.fit(X_tr, y_tr)
print(f"VALIDATION_SCORE: {log_loss(y_va, model.predict_proba(X_va), labels=model.classes_):.5f}")
model.fit(X, y)
sub = pd.DataFrame(model.predict_proba(X_test), columns=model.classes_)[CLASSES]
sub.insert(0, "id", test["id"])
sub.to_csv(SUBMISSION_PATH, index=False)
"""

# A buggy draft: a column that does not exist.
DRAFT_BUGGY = LOAD + """\
X = train[NUM + ["no_such_column"]]
"""

# The fix of the buggy draft is a liar: it prints a great validation score but submits a
# uniform guess, so its hidden score is the worst of all. The search must still choose it.
DEBUG_LIAR = LOAD + """\
FORK_TOKEN = "token-of-the-liar"
sub = pd.DataFrame({"id": test["id"]})
for c in CLASSES:
    sub[c] = 1 / 3
sub.to_csv(SUBMISSION_PATH, index=False)
print("VALIDATION_SCORE: 0.0001")
"""

# An improvement that only works when the parent's variables exist in the (fresh) kernel.
_RF = """\
print("parent token:", FORK_TOKEN)
from sklearn.ensemble import RandomForestClassifier
rf = RandomForestClassifier(n_estimators=50, random_state=SEED).fit(X_tr, y_tr)
print(f"VALIDATION_SCORE: {log_loss(y_va, rf.predict_proba(X_va), labels=rf.classes_):.5f}")
"""
IMPROVE = _RF + """\
sub = pd.DataFrame(rf.predict_proba(X_test), columns=rf.classes_)[CLASSES]
sub.insert(0, "id", test["id"])
sub.to_csv(SUBMISSION_PATH, index=False)
"""

# The same improvement without writing its own submission: the file left is its parent's.
IMPROVE_NO_FILE = _RF
