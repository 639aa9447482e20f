"""Configuration: the validated model, atomic persistence, and safe-mode loading."""
