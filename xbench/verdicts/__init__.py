"""Verdicts on measurements: compare two results files, A/B two checkouts, the article's claims."""
