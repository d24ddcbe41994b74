"""The checkpoints folder as a catalog: listing, renaming, deleting — only inside it."""
import json

import pytest

from pocketllm import (PocketLLMError, delete_checkpoint, list_checkpoints, read_run, rename_checkpoint,
                       save_checkpoint)


@pytest.fixture
def root(tmp_path, tiny_model):
    run = tmp_path / "ckpts" / "run1"
    run.mkdir(parents=True)
    save_checkpoint(run / "model.safetensors", tiny_model, facts={"best_val_loss": 3.25})
    (run / "run.json").write_text(json.dumps({"task": "pretrain", "model_path": str(run / "model.safetensors")}))
    save_checkpoint(tmp_path / "ckpts" / "top.safetensors", tiny_model,
                    task={"type": "classify", "labels": ["a", "b"]})
    (tmp_path / "outside.safetensors").write_bytes((run / "model.safetensors").read_bytes())
    return tmp_path / "ckpts"


def test_list_shows_every_checkpoint_with_its_task_and_score(root):
    rows = {r["name"]: r for r in list_checkpoints(root)}
    assert set(rows) == {"run1/model.safetensors", "top.safetensors"}
    assert rows["run1/model.safetensors"]["task"] == "pretrain"
    assert rows["run1/model.safetensors"]["score"] == "val loss 3.250"
    assert rows["top.safetensors"]["task"] == "classify"


def test_rename_keeps_the_run_pointing_at_its_checkpoint(root):
    new = rename_checkpoint(root, root / "run1" / "model.safetensors", "renamed")
    assert new.name == "renamed.safetensors" and new.is_file()
    assert read_run(root / "run1").model_path.resolve() == new.resolve()


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", ""])
def test_rename_refuses_names_that_leave_the_folder(root, name):
    with pytest.raises(PocketLLMError):
        rename_checkpoint(root, root / "top.safetensors", name)
    assert (root / "top.safetensors").is_file()


def test_rename_and_delete_refuse_files_outside_the_folder_or_not_checkpoints(root):
    outside = root.parent / "outside.safetensors"
    for action in (lambda p: delete_checkpoint(root, p), lambda p: rename_checkpoint(root, p, "x")):
        with pytest.raises(PocketLLMError, match="outside"):
            action(outside)
        with pytest.raises(PocketLLMError, match="outside"):
            action(root / ".." / "outside.safetensors")
        with pytest.raises(PocketLLMError, match="not a checkpoint"):
            action(root / "run1" / "run.json")
    assert outside.is_file() and (root / "run1" / "run.json").is_file()


def test_the_running_jobs_checkpoint_is_protected(root):
    target = root / "run1" / "model.safetensors"
    with pytest.raises(PocketLLMError, match="running"):
        delete_checkpoint(root, target, protect=target)
    assert target.is_file()
    delete_checkpoint(root, target)
    assert not target.exists()
