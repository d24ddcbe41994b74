"""Start the PocketLLM app:  python launch.py [--host H] [--port P] [--checkpoints DIR] [--lang zh|en] [--share]"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

LOOPBACK = ("127.0.0.1", "localhost", "::1")
STOP_WAIT_S = 20  # on exit, a running job gets this long to save its checkpoint


def is_loopback(host: str) -> bool:
    host = str(host or "").strip().lower()
    return host in LOOPBACK or host.startswith("127.")


def free_port(host: str, start: int, tries: int = 50) -> int:
    """`start`, or the next port that nothing listens on.  The probe binds as the server does
    (SO_REUSEADDR, as uvicorn and Gradio do): the connections of an app that was just stopped
    stay in TIME_WAIT for a minute, and without it a restarted app would move to the next port
    although nothing listens on its own."""
    family = socket.AF_INET6 if ":" in (host or "") else socket.AF_INET
    for port in range(start, start + tries):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            if os.name != "nt":  # (on Windows the option lets a second server steal a port)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host if host else "0.0.0.0", port))
                return port
            except OSError:
                continue
    raise SystemExit(f"No free port in {start}..{start + tries - 1}; pass --port.\n"
                     f"{start} 到 {start + tries - 1} 之间没有空闲的端口；请用 --port 指定一个。")


def moved_note(asked: int, port: int) -> str | None:
    """Why the app is not on the port it was asked for (English, then Chinese), or None."""
    if port == asked:
        return None
    return (f"PocketLLM: port {asked} is in use: another program listens on it (perhaps a PocketLLM that is "
            f"still running, in another terminal). Using port {port} instead; pass --port to choose one.\n"
            f"PocketLLM：端口 {asked} 已被占用：有别的程序在监听它（可能是另一个终端里仍在运行的 PocketLLM）。"
            f"改用端口 {port}；可以用 --port 指定端口。")


def url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def network_warning(host: str, share: bool) -> str | None:
    """What to tell on stderr when the app is reachable from other computers."""
    lines = []
    if not is_loopback(host):
        lines.append(f"WARNING: --host {host or '0.0.0.0'} makes PocketLLM reachable from the network, and it has "
                     f"no password: anyone who can reach this computer on that port can use the app — start and "
                     f"stop training, and download, rename or delete your checkpoints.")
    if share:
        lines.append("WARNING: --share opens a public gradio.live link, with no password: anyone with the link "
                     "can use the app.")
    if not lines:
        return None
    return "\n".join(lines + ["Leave out --host and --share (the default, 127.0.0.1) to keep it on this computer only."])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="PocketLLM: the web app.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860, or the next free one)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    p.add_argument("--checkpoints", default="checkpoints", help="folder for runs and checkpoints (default checkpoints/)")
    p.add_argument("--lang", choices=["zh", "en"], default=None,
                   help="page language (default: follow the browser; the page also has a switch)")
    return p.parse_args(argv)


def _terminated(signum, frame):
    """SIGTERM (a `kill`, a service manager) ends the app as Ctrl-C does: the same clean-up."""
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    app_temp = Path(tempfile.mkdtemp(prefix="pocketllm-app-"))
    try:
        serve(args, app_temp)
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM before the server ran: cleaned up below all the same
    finally:
        shutil.rmtree(app_temp, ignore_errors=True)  # uploads (gradio/) and exports (files/)


def serve(args, app_temp: Path):
    # Uploads and the files the app hands out live in the app's own temp folder.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(app_temp / "gradio"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ui.app import build_app, launch_options, prepare_queue

    demo = prepare_queue(build_app(args.checkpoints, lang=args.lang, temp_dir=app_temp / "files",
                                   host=args.host, share=args.share))
    state = demo.pocketllm_state
    try:
        port = free_port(args.host, args.port)
        moved = moved_note(args.port, port)
        if moved:
            print(moved, file=sys.stderr, flush=True)
        warning = network_warning(args.host, args.share)
        if warning:
            print(warning, file=sys.stderr, flush=True)
        if is_loopback(args.host):
            where = f"open {url(args.host, port)} in your browser"
        else:  # the address it listens on, and how to reach it from here
            where = (f"listening on {url(args.host or '0.0.0.0', port)} (every network interface of this "
                     f"computer); open {url('127.0.0.1', port)} here, or http://<this computer's address>:{port} "
                     f"from another one" if args.host in ("0.0.0.0", "", "::")
                     else f"listening on {url(args.host, port)}; open it in your browser")
        print(f"PocketLLM: {where} (checkpoints: {state.checkpoints}).", flush=True)
        demo.launch(server_name=args.host, server_port=port, share=args.share, inbrowser=False, quiet=True,
                    **launch_options(state))
    finally:
        if state.runner.stop():  # a running job saves its checkpoint (Resume continues it)
            print("PocketLLM: stopping the running job; it saves its checkpoint…", flush=True)
            state.runner.wait(STOP_WAIT_S)
        state.cleanup()


if __name__ == "__main__":
    main()
