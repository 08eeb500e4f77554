"""The glue `kn func` writes around a Python function when it builds one
(its instanced-cloudevents scaffolding), written again here: serve
function.new with func-python. LISTEN_ADDRESS (host:port) picks the
socket; benches/peers.sh gives 127.0.0.1 and its port.
"""
import logging
import os

from func_python.cloudevent import serve

from function import new

# func_python.cloudevent already called logging.basicConfig(level=INFO).
logging.getLogger().setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())

if __name__ == "__main__":
    serve(new)
