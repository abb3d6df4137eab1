"""Only the package list: pyproject.toml cannot map a folder outside the package into it.

The model specs are edited in the top-level models/ and installed as the package ``xbench.models`` (one
source for a checkout, an editable install and a wheel).
"""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["xbench*"]) + ["xbench.models"], package_dir={"xbench.models": "models"})
