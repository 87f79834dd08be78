"""``ceasefire app``: start the classroom page (a Solara server for :mod:`sim.faces.app`).

Runs offline: the page's front-end assets come from the ``solara-assets`` package (no CDN), and
solara's telemetry and version check (both network calls) are switched off.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import json
import os
import socket
import warnings

from sim.faces.cli import UsageError
from sim.model.scenario import BUNDLED, bundled_path, load_scenario, parse_assignment, resolve_path

SET_ENV = "CEASEFIRE_APP_SET"
"""sim.faces.app.SET_ENV, spelled here so that checking the command line does not import Solara."""

DEFAULT_APP_SCENARIO = "classroom-two-villages"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
OFFLINE_ENV = {
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",  # no usage reports to mixpanel.com
    "SOLARA_CHECK_HOOKS": "off",  # no hook lint of Mesa's components at every start
}
"""Solara settings for a server that must not reach the network (read when solara is imported)."""
APP_PACKAGES = ("solara", "solara_assets", "mesa.visualization", "altair")
"""What the page needs beyond the core (the ``app`` extra)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="start the classroom page in a browser",
                       description="Start the interactive classroom page (Solara) for a scenario. "
                                   "It runs offline; open the printed address in a browser.")
    p.add_argument("scenario", nargs="?", default=DEFAULT_APP_SCENARIO,
                   help=f"scenario file or bundled name (default: {DEFAULT_APP_SCENARIO}; "
                        f"bundled: {', '.join(BUNDLED)})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port to listen on (default {DEFAULT_PORT})")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this computer only; "
                        "0.0.0.0 lets the class's devices connect)")
    p.add_argument("--open", action="store_true", help="also open the page in the default browser")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a parameter of the scenario the page opens with (repeatable), "
                        "e.g. --set 'peacekeepers.sections=[\"hadrut\"]'")
    p.set_defaults(func=app)


def app(args: argparse.Namespace) -> int:
    """Carry out ``ceasefire app``: check everything, then serve until interrupted."""
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be a whole number from 1 to 65535")
    missing = [m for m in APP_PACKAGES if not _importable(m)]
    if missing:
        raise UsageError(f"the page needs {', '.join(missing)}: install the app extra "
                         "(pip install 'ceasefire-sim[app]')")
    path = resolve_path(args.scenario).resolve()
    overrides = dict(parse_assignment(a) for a in args.set)
    load_scenario(path, overrides or None)  # a bad scenario is reported here, not in the browser
    bundled = path.stem in BUNDLED and path == bundled_path(path.stem).resolve()
    _check_free(args.host, args.port)
    os.environ[SET_ENV] = json.dumps(overrides)
    serve(path.stem if bundled else str(path), args.host, args.port, open_browser=args.open)
    return 0


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _check_free(host: str, port: int) -> None:
    """Raise UsageError unless ``host:port`` can be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UsageError(f"--host {host!r}: not an address of this computer") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"--port {port}: already in use on {host}; "
                                 "choose another with --port") from None
            raise UsageError(f"--host {host!r} --port {port}: cannot listen there "
                             f"({exc.strerror})") from None


def serve(scenario: str, host: str, port: int, *, open_browser: bool = False) -> None:
    """Run the Solara server for the page in this process until it is stopped.

    ``scenario`` is a bundled name or a checked path: the page opens with it.
    """
    os.environ.update(OFFLINE_ENV)
    os.environ["CEASEFIRE_APP_SCENARIO"] = scenario
    if host in ("0.0.0.0", "::"):
        print(f"The classroom page is at http://127.0.0.1:{port}/ on this computer and at "
              f"http://<this computer's address>:{port}/ on the network (stop with Ctrl+C)",
              flush=True)
    else:
        print(f"The classroom page is at http://{host}:{port}/  (stop with Ctrl+C)", flush=True)
    from solara.__main__ import run  # after the environment is set: solara reads it on import

    # Served over plain http on a named host, solara warns about its session cookie at every page
    # load; the page keeps no secrets in it, so the warning only alarms teachers.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")

    run.main(args=["sim.faces.app", "--host", host, "--port", str(port), "--production",
                   "--no-check-version", "--open" if open_browser else "--no-open",
                   "--log-level", "warning", "--log-level-uvicorn", "warning"],
             prog_name="ceasefire app", standalone_mode=False)
