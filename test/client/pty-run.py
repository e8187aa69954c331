"""Drives a command in a pseudo-terminal, as a person at a keyboard would.

Usage: python3 pty-run.py '<json>' where json is {"argv": [...], "steps": [{"after": text,
"send": text}, ...], "timeout": seconds}. For each step, waits until `after` appears in what the
terminal printed since the previous step's input, then types `send` (raw: "\\x1b[A" is the up
arrow); finally waits for the child to exit. Prints the whole terminal transcript to stdout and exits
with the child's exit code (124 on timeout).
"""
import json
import os
import pty
import select
import sys
import time

spec = json.loads(sys.argv[1])
deadline = time.time() + spec.get("timeout", 30)
pid, fd = pty.fork()
if pid == 0:
    os.execvp(spec["argv"][0], spec["argv"])

transcript = b""


def read_some(wait):
    global transcript
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return True
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    if not chunk:
        return False
    transcript += chunk
    return True


def wait_for(text, mark):
    while transcript.find(text, mark) == -1:
        if time.time() > deadline or not read_some(0.1):
            return False
    return True


mark = 0
for step in spec["steps"]:
    if not wait_for(step["after"].encode(), mark):
        break
    mark = len(transcript)
    os.write(fd, step["send"].encode())

# Read until the child closes the terminal (EOF/EIO) or the deadline passes.
timed_out = True
while time.time() < deadline:
    if not read_some(0.1):
        timed_out = False
        break
if timed_out:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
sys.stdout.write(transcript.decode("utf-8", "replace"))
sys.exit(124 if timed_out else os.waitstatus_to_exitcode(status))
