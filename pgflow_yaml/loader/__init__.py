"""Read a flow file (YAML or TOML) into plain data plus a way to find any part of it in the text.

One module per job: :mod:`.source` is the document (text, data, spans), :mod:`.yaml_reader`
turns YAML into data with positions, :mod:`.toml_reader` does the same for TOML with its own
position scanner, and :mod:`.files` reads and decodes a file and picks the reader.
"""

from pgflow_yaml.loader.files import parse_bytes, read_file
from pgflow_yaml.loader.source import FLOW_SUFFIXES, MAX_DEPTH, SourceDoc, SpanTuple
from pgflow_yaml.loader.toml_reader import locate_toml

__all__ = [
    "FLOW_SUFFIXES",
    "MAX_DEPTH",
    "SourceDoc",
    "SpanTuple",
    "locate_toml",
    "parse_bytes",
    "read_file",
]
