"""xbench."""
