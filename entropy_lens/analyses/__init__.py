"""Analyses: compute-only functions that read a rollout table (or training logs) and return
a Result of DataFrames. No file writing and no plotting here: see outputs.py and plots/."""
