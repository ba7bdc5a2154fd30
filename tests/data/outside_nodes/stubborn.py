"""A graph node that ignores SIGINT: the runner must kill it after its shutdown timeout.

Started by `robot-rl up` as `python -m outside_nodes.stubborn --ros-args ... -p ready_path:=FILE`; it writes
FILE once its handler is in place, so the test signals the runner only after that.
"""
import signal
import sys
import time

signal.signal(signal.SIGINT, signal.SIG_IGN)
ready = next(a.split(":=", 1)[1] for a in sys.argv if a.startswith("ready_path:="))
with open(ready, "w") as f:
    f.write("ready\n")
while True:
    time.sleep(1.0)
