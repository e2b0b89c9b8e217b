"""Are the ports the demo stack publishes free? The stack's first service (`port-check` in
docker-compose.yml) runs this before anything else starts, so a port already taken (a local
`gdi-node serve` on 5050) stops `docker compose up` at once with one line naming the port and
its variable in .env, not minutes later when the service that publishes it starts.

It runs with the host's network and checks every GDI_*_PORT variable it is given (the stack
passes each port it publishes) by listening on 127.0.0.1 as Docker would. Standard library only:
it runs in the Python base image, so rebuilding the project's image does not recreate it.

    python3 docker/port_check.py                   # exit 0: all free; 1: one line per port taken
    python3 docker/port_check.py --ready FILE      # all free: create FILE, wait for a signal

With --ready (the stack's way) it stays up, idle, once the ports were free: `docker compose up`
again on the running stack, whose own ports are then taken, finds it running and does not
check again."""
from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
from pathlib import Path

HOST = "127.0.0.1"


def problems(environ: dict[str, str]) -> list[str]:
    """One line per GDI_*_PORT that is not a port, or not free on 127.0.0.1."""
    found = []
    for variable, value in sorted(environ.items()):
        if not (variable.startswith("GDI_") and variable.endswith("_PORT")):
            continue
        if not value.isdigit() or not 0 < int(value) < 65536:
            found.append(f"{variable} in .env is not a port number (1-65535)")
            continue
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, int(value)))
            except OSError as exc:
                why = ("is already in use (a local gdi-node? stop it or set "
                       f"{variable} in .env)" if exc.errno == errno.EADDRINUSE
                       else f"cannot be used ({exc.strerror}; set {variable} in .env)")
                found.append(f"port {value} on {HOST} {why}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ready", type=Path,
                        help="when every port is free, create this file and wait for a signal")
    args = parser.parse_args()
    lines = problems(dict(os.environ))
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    if lines:
        print("nothing else was started (a stack already running holds its own ports: "
              "`docker compose down` before changing them)", file=sys.stderr)
        return 1
    if args.ready:
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)    # taken by sigwait, not by a handler
        args.ready.touch()
        signal.sigwait(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
