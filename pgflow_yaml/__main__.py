"""Allow ``python -m pgflow_yaml``."""

from pgflow_yaml.cli import main

main()
