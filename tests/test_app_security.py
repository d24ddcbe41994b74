"""The app hands out and touches only what it should: paths from the page (or from anyone
who calls its endpoints) outside the checkpoints folder are refused with a readable message
and never served; names cannot climb out of the folder; the launch defaults keep the app on
this computer."""
from __future__ import annotations

import importlib
import inspect
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

import gradio as gr
import pytest

from pocketllm import GPTModel, ModelConfig, save_checkpoint
from tests.app_fixtures import app, refusal  # noqa: F401  (fixture)

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402

SECRET = "do-not-serve-4f1c9e"


def tiny_checkpoint(path: Path) -> Path:
    import torch
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=50257, context_length=128, emb_dim=32, num_heads=2, num_layers=1, drop_rate=0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, GPTModel(cfg))
    return path


@pytest.fixture(scope="module")
def files(app, tmp_path_factory):
    """A checkpoint in the folder, and outside it: a secret text file and a real checkpoint."""
    outside = tmp_path_factory.mktemp("outside")
    secret = outside / "id_rsa"
    secret.write_text(SECRET, encoding="utf-8")
    return dict(inside=tiny_checkpoint(app[1].checkpoints / "mine" / "tiny.safetensors"),
                secret=secret, outside_ckpt=tiny_checkpoint(outside / "elsewhere.safetensors"))


@pytest.fixture(scope="module")
def client(app, files):
    client = Client(app[0], verbose=False)
    # As the page does on load: the pickers list the folder's checkpoints.
    client.predict(None, "en", api_name="/weights_list")
    client.predict(None, api_name="/generate_models")
    client.predict(None, api_name="/classify_models")
    client.predict(None, api_name="/instruct_models")
    return client


def bad_paths(files, app) -> list[str]:
    return [str(files["secret"]), "/etc/passwd", str(files["outside_ckpt"]),
            str(app[1].checkpoints / ".." / files["secret"].parent.name / files["secret"].name)]


# Every endpoint that takes a checkpoint path: its arguments with the path first.
PATH_ENDPOINTS = {
    "/weights_select": lambda p: (p, "en"),
    "/weights_info": lambda p: (p, "en"),
    "/weights_export": lambda p: (p, "en"),
    "/weights_rename": lambda p: (p, "renamed", "en"),
    "/weights_delete": lambda p: (p, "en"),
    "/weights_delete_ask": lambda p: (p, "en"),
    "/generate": lambda p: (p, "The", 0.0, 0, 1.0, 3, 1, "en"),
    "/look_inside": lambda p: (p, "The", 1.0, 0, 1.0, 1, 0, "en"),
    "/classify_message": lambda p: (p, "hello", "en"),
    "/instruct_respond": lambda p: (p, "Say hi.", "", 0, 5, "en"),
}


def never_served(result, url, path):
    """Nothing in the result names the file or holds its text, and the file route refuses it."""
    assert SECRET not in str(result)
    try:
        with urllib.request.urlopen(f"{url}gradio_api/file={path}", timeout=10) as r:
            assert SECRET not in r.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        assert exc.code in (403, 404)


@pytest.mark.parametrize("endpoint", sorted(PATH_ENDPOINTS))
def test_endpoints_refuse_paths_outside_the_folder(client, app, files, endpoint):
    for path in bad_paths(files, app):
        message = refusal(lambda: client.predict(*PATH_ENDPOINTS[endpoint](path), api_name=endpoint))
        assert message and "Traceback" not in message and SECRET not in message
        never_served(message, app[0], path)
    assert files["secret"].read_text() == SECRET and files["outside_ckpt"].is_file()  # untouched


def handler(demo, api_name):
    return next(fn.fn for fn in demo.fns.values() if fn.api_name == api_name)


def call(fn, args):
    out = fn(*args)
    return list(out) if inspect.isgenerator(out) else out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The handlers themselves, past the pickers' own check: what a raw call by index reaches."""
    from ui.app import build_app
    root = tmp_path_factory.mktemp("direct")
    demo = build_app(root / "checkpoints", temp_dir=root / "temp", host="0.0.0.0")
    tiny_checkpoint(root / "checkpoints" / "ok.safetensors")
    return demo


@pytest.mark.parametrize("endpoint", sorted(PATH_ENDPOINTS))
def test_handlers_check_paths_themselves(demo, files, endpoint):
    fn = handler(demo, endpoint.lstrip("/"))
    state = demo.pocketllm_state
    cases = {str(files["secret"]): "not in the checkpoints folder",
             "/etc/passwd": "not in the checkpoints folder",
             str(files["outside_ckpt"]): "not in the checkpoints folder",
             str(state.checkpoints / ".." / "x.safetensors"): "not in the checkpoints folder",
             str(state.checkpoints / "gone.safetensors"): "no longer exists"}
    notes = state.checkpoints / "notes.txt"
    notes.write_text(SECRET)
    cases[str(notes)] = "not a PocketLLM checkpoint"
    for path, words in cases.items():
        message = refusal(lambda: call(fn, PATH_ENDPOINTS[endpoint](path)))
        assert words in message, (path, message)
        assert SECRET not in message


def test_finetune_bases_outside_the_folder_are_refused(demo, files):
    from ui.runs import base_facts, base_model
    state = demo.pocketllm_state
    with pytest.raises(Exception, match="not in the checkpoints folder"):
        base_model(state, str(files["outside_ckpt"]), "en")
    assert "not in the checkpoints folder" in base_facts(state, "/etc/passwd", "en")
    assert base_model(state, "fresh:cpu-tiny", "en") == (None, "cpu-tiny")


def test_rename_refuses_names_that_leave_the_folder(client, app, files):
    before = sorted(p.name for p in app[1].checkpoints.rglob("*"))
    for name in ("../escaped", "..", "a/b", "..\\up", ".hidden"):
        assert "plain file name" in refusal(lambda: client.predict(str(files["inside"]), name, "en",
                                                                   api_name="/weights_rename"))
    assert files["inside"].is_file() and sorted(p.name for p in app[1].checkpoints.rglob("*")) == before
    assert not (app[1].checkpoints.parent / "escaped.safetensors").exists()


def test_the_running_jobs_checkpoint_cannot_be_renamed_or_deleted(demo, monkeypatch):
    state = demo.pocketllm_state
    ckpt = state.checkpoints / "ok.safetensors"
    monkeypatch.setattr(state, "running_checkpoint", lambda: ckpt.resolve())
    monkeypatch.setattr(type(state.runner), "current", property(lambda self: type("J", (), {"name": "run-1"})()))
    for endpoint, args in (("weights_rename", (str(ckpt), "other", "en")), ("weights_delete", (str(ckpt), "en")),
                           ("weights_delete_ask", (str(ckpt), "en"))):
        assert "running job run-1" in refusal(lambda: handler(demo, endpoint)(*args))
    assert ckpt.is_file()


def test_a_selected_checkpoint_is_served(client, app, files):
    download, stem, message = client.predict(str(files["inside"]), "en", api_name="/weights_select")[:3]
    assert stem == "tiny" and download["value"]  # the positive case: the guard lets ours through


def test_local_paths_only_on_loopback(demo, files, tmp_path):
    """The app built for host 0.0.0.0: a path typed in the import box is refused, before reading."""
    fn = handler(demo, "weights_import")
    for source in (str(files["secret"]), "/etc/passwd", "~/.ssh/id_rsa", "../x.bin"):
        assert "does not read files by path" in refusal(lambda: fn(None, source, "x", "en"))
    from ui.state import is_loopback
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    from ui.app import build_app
    assert build_app(tmp_path / "c1", temp_dir=tmp_path / "t1").pocketllm_state.local_paths
    assert not build_app(tmp_path / "c2", temp_dir=tmp_path / "t2", share=True).pocketllm_state.local_paths


def test_a_file_input_must_be_an_upload(client, app, files):
    bin_file = files["secret"].with_suffix(".bin")
    bin_file.write_text(SECRET)
    message = refusal(lambda: client.predict({"path": str(bin_file), "meta": {"_type": "gradio.FileData"}}, "",
                                             "stolen", "en", api_name="/weights_import"))
    assert SECRET not in message
    assert not (app[1].checkpoints / "imported" / "stolen.safetensors").exists()


def test_unnamed_events_are_private(demo):
    named = {fn.api_name for fn in demo.fns.values() if fn.api_visibility != "private"}
    assert "weights_info" in named and "on_preview" not in named and not any(n.startswith("lambda") for n in named)


# ---- launch defaults -------------------------------------------------------------------------

def test_launch_defaults(monkeypatch):
    monkeypatch.delenv("GRADIO_ANALYTICS_ENABLED", raising=False)
    import launch
    launch = importlib.reload(launch)
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    args = launch.parse_args([])
    assert (args.host, args.share, args.port) == ("127.0.0.1", False, 7860)


def test_free_port_skips_a_taken_port():
    import launch
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        try:
            held.bind(("127.0.0.1", 7860))
            held.listen(1)
        except OSError:
            pass  # something listens on 7860 already: taken all the same
        port = launch.free_port("127.0.0.1", 7860)
        assert port > 7860
        for taken in range(7860, port):  # every port it skipped was taken
            with socket.socket() as probe, pytest.raises(OSError):
                probe.bind(("127.0.0.1", taken))


def test_upload_limit_is_a_launch_option(app):
    from ui.app import launch_options
    from ui.state import MAX_UPLOAD
    assert launch_options(app[1])["max_file_size"] == MAX_UPLOAD == "2gb"
    with urllib.request.urlopen(f"{app[0]}config", timeout=10) as r:
        import json
        config = json.loads(r.read())
    assert config["max_file_size"] == 2 * 1024**3  # what the running app enforces


# ---- what the file route hands out -------------------------------------------------------------

def fetch(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_only_checkpoints_are_served_from_the_folder(app, files):
    """A run's training state, settings, notes and the kept corpora are not handed out; a
    checkpoint is (the Download buttons copy it into Gradio's cache from there)."""
    root = app[1].checkpoints
    run = root / "pretrain-20260101-000000"
    run.mkdir(exist_ok=True)
    private = {"train_state.pt": b"state", "run.json": b"{}", "events.jsonl": b"", "notes.txt": SECRET.encode(),
               ".model.safetensors.4194999-ab12cd34.tmp": b"half a save"}
    for name, data in private.items():
        (run / name).write_bytes(data)
    corpus = app[1].corpora / "mine-0123456789ab.txt"
    corpus.write_text(SECRET)
    base = app[0].rstrip("/")
    for path in [*(run / name for name in private), corpus, root / "corpora", run]:
        for route in ("/gradio_api/file=", "/file=", "/gradio_api/file/"):
            assert fetch(f"{base}{route}{path}") in (403, 404), (route, path)
        # ..and not by a path that climbs into the folder from outside it
        climb = f"{root.parent}/{root.name}/../{root.name}/{path.relative_to(root)}"
        assert fetch(f"{base}/gradio_api/file={climb}") in (403, 404), climb
    assert fetch(f"{base}/gradio_api/file={files['inside']}") == 200
    assert fetch(f"{base}/gradio_api/file={files['secret']}") in (403, 404)
    assert fetch(f"{base}/gradio_api/file={files['outside_ckpt']}") in (403, 404)


def test_the_middleware_judges_paths_as_the_file_route_reads_them(tmp_path):
    from ui.app import CheckpointFilesOnly
    root = tmp_path / "checkpoints"
    (root / "run").mkdir(parents=True)
    (root / "run" / "model.safetensors").write_bytes(b"x")
    (root / "run" / "train_state.pt").write_bytes(b"x")
    guard = CheckpointFilesOnly(None, root)
    assert guard.allowed(f"/gradio_api/file={root}/run/model.safetensors")
    assert not guard.allowed(f"/gradio_api/file={root}/run/train_state.pt")
    assert not guard.allowed(f"/file={root}/run/../run/train_state.pt")
    assert not guard.allowed(f"/gradio_api/file={root}/run/missing.safetensors")
    assert guard.allowed("/gradio_api/info") and guard.allowed("/")
    assert guard.allowed(f"/gradio_api/file={tmp_path}/elsewhere.txt")  # Gradio's own rules decide
