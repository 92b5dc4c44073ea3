"""Models: the saved-model contract (weights), the zoo of source models, candidate specs."""
