"""Evaluation shared by the stages: logits, accuracy, confusion, per-class accuracy, forgetting."""
