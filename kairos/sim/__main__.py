"""`python -m kairos.sim`: serve the simulated Coinone over HTTP on a persistent paper account.

The first stdout line is `KAIROS-SIM listening on http://HOST:PORT`; the next two give the access
token and secret key the simulator accepts (simulator credentials, printed on purpose).
Serves until SIGTERM or SIGINT. Requests are logged to stderr, one line each (none with --quiet).
"""
from __future__ import annotations

import argparse
import signal
import sys
from decimal import Decimal
from types import FrameType

from kairos.sim.config import SimConfig
from kairos.sim.factory import paper_exchange
from kairos.sim.server import make_server, server_url


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = SimConfig()
    parser = argparse.ArgumentParser(prog="python -m kairos.sim", description="Simulated Coinone exchange")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--state", required=True, help="SQLite file of the paper account (created if missing)")
    parser.add_argument("--access-token", default=defaults.access_token)
    parser.add_argument("--secret-key", default=defaults.secret_key)
    parser.add_argument("--seed", type=int, default=None, help="market model seed (a new account only)")
    parser.add_argument("--initial-krw", type=Decimal, default=defaults.initial_krw)
    parser.add_argument("--quiet", action="store_true", help="no request log")
    return parser.parse_args(argv)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = SimConfig(access_token=args.access_token, secret_key=args.secret_key, initial_krw=args.initial_krw)
    app = paper_exchange(args.state, seed=args.seed, config=config)
    if args.seed is not None and args.seed != app.model.seed:
        print(f"note: {args.state} was opened with seed {app.model.seed}; --seed {args.seed} is ignored",
              file=sys.stderr, flush=True)
    server = make_server(app, args.host, args.port, quiet=args.quiet)
    print(f"KAIROS-SIM listening on {server_url(server)}", flush=True)
    print(f"access_token: {config.access_token}", flush=True)
    print(f"secret_key: {config.secret_key}", flush=True)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("KAIROS-SIM stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
