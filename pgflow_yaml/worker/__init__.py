"""The execution layer: run handlers for the tasks the SQL core hands out.

``pgflow_yaml.worker.Worker`` is the process's main object; ``worker.startup`` loads flows and
handlers, ``worker.runner`` executes one handler, ``worker.store`` talks to the database through
the named queries of ``pgflow_yaml.queries``.
"""

from __future__ import annotations
