"""Training: one loop (``loop.fit``) used by the zoo, fine-tuning and the from-scratch baseline."""
