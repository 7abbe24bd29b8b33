"""Figures for the analyses (matplotlib, Agg backend: no display needed)."""
