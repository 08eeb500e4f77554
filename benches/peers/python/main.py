"""The glue `kn func` writes around a Python function when it builds one
(its instanced scaffolding), written again here: serve the package's `new`
with func-python. LISTEN_ADDRESS (host:port) picks the socket;
benches/peers.sh gives 127.0.0.1 and its port.

`python main.py [PACKAGE [TEMPLATE]]`: PACKAGE is the function's package
(`function`, the translation step, by default; `producer`, `contactlog`,
`query`), TEMPLATE `cloudevents` (default) or `http`, as `kn func create -t`
would have chosen func_python.cloudevent or func_python.http.
"""
import importlib
import logging
import os
import sys

package = sys.argv[1] if len(sys.argv) > 1 else "function"
template = sys.argv[2] if len(sys.argv) > 2 else "cloudevents"
serve = importlib.import_module(
    "func_python.http" if template == "http" else "func_python.cloudevent").serve

# func_python already called logging.basicConfig(level=INFO).
logging.getLogger().setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())

if __name__ == "__main__":
    serve(importlib.import_module(package).new)
