"""Packaging glue that pyproject.toml cannot express: ship the top-level assets/ as the package swarmwiz.assets."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["swarmwiz", "swarmwiz.*"]), "swarmwiz.assets"],
    package_dir={"swarmwiz.assets": "assets"},
)
