"""Stage 3, the learned step: scikit-learn features, training with grouped CV, combining with rules, skops models.

Builds on `coding`; `outputs` and the workflows use what it tags."""
