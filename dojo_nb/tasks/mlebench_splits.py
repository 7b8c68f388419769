"""MLE-bench's named suites, as ids: the facts of its `experiments/splits/low.txt` (the Lite split).

Kept as data here so `--split mlebench-lite` works without an MLE-bench clone; a competition of
the list that is not imported is simply absent from the suite.
"""

from __future__ import annotations

LITE: frozenset[str] = frozenset({
    "aerial-cactus-identification", "aptos2019-blindness-detection", "denoising-dirty-documents",
    "detecting-insults-in-social-commentary", "dog-breed-identification", "dogs-vs-cats-redux-kernels-edition",
    "histopathologic-cancer-detection", "jigsaw-toxic-comment-classification-challenge", "leaf-classification",
    "mlsp-2013-birds", "new-york-city-taxi-fare-prediction", "nomad2018-predict-transparent-conductors",
    "plant-pathology-2020-fgvc7", "random-acts-of-pizza", "ranzcr-clip-catheter-line-classification",
    "siim-isic-melanoma-classification", "spooky-author-identification", "tabular-playground-series-dec-2021",
    "tabular-playground-series-may-2022", "text-normalization-challenge-english-language",
    "text-normalization-challenge-russian-language", "the-icml-2013-whale-challenge-right-whale-redux",
})
assert len(LITE) == 22
