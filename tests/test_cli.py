"""The command line's bad-input contract: one line naming the thing, exit code 2, no traceback."""

import pytest

from raylab.cli import main


@pytest.mark.parametrize("argv, fragment", [
    (["train", "no_such_experiment"], "experiment 'no_such_experiment': not found"),
    (["train", "karpathy_fusion", "--set", "optim.lrr=1"], "optim.lrr: unknown config key"),
    (["train", "karpathy_fusion", "--set", "model.name=resnet"], "model.name: expected one of"),
    (["train", "karpathy_fusion", "--set", "optim.lr"], "expected KEY=VALUE"),
    (["train", "karpathy_fusion", "--set", "data.shards_dir=/nonexistent/shards"],
     "data.shards_dir: /nonexistent/shards has no manifest.json"),
    (["sweep", "karpathy_fusion", "--set", "data.batch_size=0"], "data.batch_size: expected >= 1"),
    (["ingest", "ucf101", "--root", "/nonexistent/ucf", "--out", "/tmp/x"], "/nonexistent/ucf"),
    (["flow", "--shards", "/nonexistent/shards", "--out", "/tmp/x"],
     "/nonexistent/shards/manifest.json: expected a manifest.json"),
    (["flow", "--shards", "/x", "--out", "/tmp/x", "--method", "brox"],
     "flow.method: expected one of tvl1, farneback"),
    (["flow", "--shards", "/x", "--out", "/tmp/x", "--bound", "0"], "flow.bound_px: expected"),
])
def test_bad_input_is_one_line_and_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("raylab: error: ")
    assert fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fly"])
    assert exit_.value.code == 2


def test_ui_serves_the_work_dir_store_on_loopback(tmp_path):
    from raylab.track.server import ui_command

    cmd = ui_command(tmp_path, port=5123)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "5123"
    assert cmd[cmd.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path / 'mlflow.db'}"
