"""The measurement core: one place that turns a case into a timed thing, and the pytest suite that times them."""
