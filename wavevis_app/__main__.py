"""Start the dashboard with a warm start: `python -m wavevis_app [streamlit options] [-- app options]`.

The same as `streamlit run app.py [streamlit options] [-- app options]` (what `make run` runs;
e.g. `python -m wavevis_app --server.port 8502 -- --model net.py:Net --allow-code`), except that
the app's imports start in the background while the server starts and the browser loads the page
(`wavevis_app.warm`): the first page is complete ~1.5 s sooner. `streamlit run app.py` works too.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # Streamlit's own imports (the server's included) first: the warm-up thread starts after them.
    import streamlit.web.server  # noqa: F401
    from streamlit.web import bootstrap, cli  # noqa: F401

    from wavevis_app import warm

    app_args = args[args.index("--") + 1:] if "--" in args else []
    launch_model = any(a.split("=")[0] in ("--model", "--weights") for a in app_args)
    warm.start(APP, first_passes=not launch_model)  # a launch model's first page is not the demo's
    sys.argv = ["streamlit", "run", str(APP), *args]
    return cli.main(args=sys.argv[1:], prog_name="streamlit")


if __name__ == "__main__":
    raise SystemExit(main())
