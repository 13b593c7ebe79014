"""Metrics: JSONL logs and matplotlib PNG plots written next to checkpoints.

Every training script appends one JSON object per logged step to a .jsonl file, and redraws its plots from that
file, so a plot can always be remade from the log (and a resumed run continues the same log).
Under torchrun only rank 0 writes logs and plots (its rows hold metrics already reduced over the ranks).
"""
import json
import os

import matplotlib

from nanor1.distributed import is_main

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def write_atomic(path: str, text: str) -> None:
    """Write text through a temp file and a rename, so a kill mid-write leaves the old file intact."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def save_figure(fig, png_path: str) -> None:
    """Save a figure as PNG the same way (temp file, rename) and close it."""
    tmp = png_path + ".tmp.png"
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, png_path)


class MetricsLog:
    def __init__(self, path: str, resume: bool = False):
        self.path = path
        self.enabled = is_main()
        if not self.enabled:
            return
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if not resume and os.path.exists(path):
            os.remove(path)  # a fresh run starts a fresh log

    def truncate_after(self, step: int, key: str = "step") -> None:
        """Drop rows past `step` (a resumed run repeats the steps after its last checkpoint)."""
        if not self.enabled:
            return
        rows = [r for r in read_jsonl(self.path) if r.get(key, 0) <= step]
        write_atomic(self.path, "".join(json.dumps(r) + "\n" for r in rows))

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({k: _plain(v) for k, v in row.items()}) + "\n")


def _plain(v):
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, float):
        return round(v, 6)
    return v


def read_jsonl(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # a line cut by a kill mid-write
    return rows


def plot_metrics(jsonl_path: str, png_path: str, keys: list[str], x: str = "step", title: str = "") -> None:
    """One panel per key, against x; keys missing from the log are skipped."""
    if not is_main():
        return
    rows = read_jsonl(jsonl_path)
    keys = [k for k in keys if any(k in r for r in rows)]
    if not rows or not keys:
        return
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.0), squeeze=False)
    for ax, key in zip(axes[0], keys):
        pts = [(r[x], r[key]) for r in rows if key in r and x in r and r[key] is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 40 else None)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_figure(fig, png_path)
