"""Source-model selection: features from each candidate, transferability estimators, ranking."""
