"""Model specs, one JSON file each: edited here, installed as the package ``xbench.models``."""
