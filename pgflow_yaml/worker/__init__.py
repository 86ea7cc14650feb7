"""The execution layer: run handlers for the tasks the SQL core hands out.

``pgflow_yaml.worker.Worker`` (``worker.loop``) is the process's main object and only schedules;
``worker.reporter`` batches results; ``worker.protocol`` makes each call on the core the
database holds, with the named queries of ``pgflow_yaml.queries`` run over ``worker.store``'s
connections; ``worker.startup`` loads flows and handlers, ``worker.runner`` executes one handler.
"""

from __future__ import annotations
