"""bench/zero.py: two runs back to back, their time split and ratio as the last line's JSON (tiny preset)."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_two_runs_give_a_time_split_per_run_and_their_ratio(tmp_path):
    p = subprocess.run([sys.executable, os.path.join(REPO, "bench", "zero.py"), "--presets=tiny,tiny",
                        f"--keep={tmp_path}"], cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"},
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert [r["preset"] for r in result["runs"]] == ["tiny", "tiny"]
    for r in result["runs"]:
        assert r["steps"] == 2 and r["evals"] >= 2  # the base, then the last step
        parts = r["sampling_s"] + r["ref_s"] + r["update_s"] + r["eval_s"]
        assert r["sampling_s"] > 0 and r["eval_s"] > 0 and parts <= r["wall_s"] + 0.5
    assert result["ratio"] == pytest.approx(result["runs"][0]["wall_s"] / result["runs"][1]["wall_s"], rel=0.01)
    assert "sampling" in p.stdout and "/ tiny wall time" in p.stdout
