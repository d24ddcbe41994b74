"""Start the PocketLLM app:  python launch.py [--host H] [--port P] [--checkpoints DIR] [--lang zh|en] [--share]"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def free_port(host: str, start: int, tries: int = 50) -> int:
    """`start`, or the next port that nothing listens on."""
    for port in range(start, start + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host if host not in ("0.0.0.0", "") else "127.0.0.1", port))
                return port
            except OSError:
                continue
    raise SystemExit(f"No free port in {start}..{start + tries - 1}; pass --port.")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="PocketLLM: the web app.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860, or the next free one)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    p.add_argument("--checkpoints", default="checkpoints", help="folder for runs and checkpoints (default checkpoints/)")
    p.add_argument("--lang", choices=["zh", "en"], default=None,
                   help="page language (default: follow the browser; the page also has a switch)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    app_temp = Path(tempfile.mkdtemp(prefix="pocketllm-app-"))
    # Uploads and the files the app hands out live in the app's own temp folder.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(app_temp / "gradio"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ui.app import build_app, launch_options, prepare_queue

    try:
        demo = prepare_queue(build_app(args.checkpoints, lang=args.lang, temp_dir=app_temp / "files",
                                       host=args.host, share=args.share))
        port = free_port(args.host, args.port)
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
        print(f"PocketLLM: open http://{shown}:{port} in your browser "
              f"(checkpoints: {demo.pocketllm_state.checkpoints}).", flush=True)
        try:
            demo.launch(server_name=args.host, server_port=port, share=args.share, inbrowser=False, quiet=True,
                        **launch_options(demo.pocketllm_state))
        finally:
            demo.pocketllm_state.cleanup()
    finally:
        shutil.rmtree(app_temp, ignore_errors=True)  # uploads (gradio/) and exports (files/)


if __name__ == "__main__":
    main()
