"""Runs several translated scripts in one process (one framework import) and prints, as JSON on
the last line, each script's loss histories or its error."""

import contextlib
import io
import json
import os
import runpy
import sys
import traceback
import types

results = {}
root = os.getcwd()
for script in sys.argv[1:]:
    path = os.path.abspath(script)
    folder = os.path.dirname(path)
    os.chdir(folder)
    sys.path[0] = folder
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            names = runpy.run_path(path, run_name="__main__")
        histories = [
            value.history["loss"]
            for value in names.values()
            if isinstance(value, types.SimpleNamespace) and isinstance(getattr(value, "history", None), dict)
            and value.history.get("loss")
        ]
        results[script] = {"histories": histories, "stdout": out.getvalue()}
    except Exception:  # noqa: BLE001 - reported per script
        results[script] = {"error": traceback.format_exc()[-3000:], "stdout": out.getvalue()}
    finally:
        os.chdir(root)
print(json.dumps(results))
