"""Runs a translated script and prints, as JSON on the last line, the loss histories it made."""

import json
import runpy
import sys
import types

result = runpy.run_path(sys.argv[1], run_name="__main__")
histories = [
    value.history["loss"]
    for value in result.values()
    if isinstance(value, types.SimpleNamespace) and isinstance(getattr(value, "history", None), dict)
    and value.history.get("loss")
]
print(json.dumps({"histories": histories}))
