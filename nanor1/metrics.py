"""Metrics: JSONL logs and matplotlib PNG plots written next to checkpoints, and the fixed-width
line of an RL step.

Every training script appends one JSON object per logged step to a .jsonl file, and redraws its
plots from that file, so a plot can always be remade from the log (and a resumed run continues the
same log). Under torchrun only rank 0 writes logs and plots (its rows hold metrics already reduced
over the ranks). The RL scripts print step_header(terms) once, then format_step(row, terms) for each
row that nanor1.grpo.train_step returns (terms: the run's reward names, which add a column each
beyond accuracy and format).
"""
import json
import os

import matplotlib

from nanor1.distributed import is_main

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def write_atomic(path: str, text: str) -> None:
    """Write text through a temp file and a rename, so a kill mid-write leaves the old file
    intact."""
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


def plot_metrics(jsonl_path: str, png_path: str, keys: list[str], x: str = "step",
                 title: str = "") -> None:
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


# ----------------------------------------------------------------------------- the RL step line

# reward terms with a fixed column (acc, fmt); others get their own
COLUMN_TERMS = ("accuracy", "format")


def extra_terms(terms) -> list[str]:
    """The reward terms (names in --reward_weights) beyond accuracy and format: each gets a column
    in the step line, a panel in train.png and a row in report.html, of its unweighted part
    r_<name>."""
    return [t for t in terms if t not in COLUMN_TERMS]


def step_header(terms=()) -> str:
    """The header of format_step's line; terms: the run's reward terms (e.g.
    GRPOTrainer.weights)."""
    return (f"{'step':>5} {'reward':>6} {'acc':>5} {'fmt':>5} {'0std':>5} {'clip':>5} {'kl':>6} "
            f"{'ent':>5} "
            f"{'gnorm':>5} {'len':>5} {'max':>4} {'trunc':>5} {'aha':>5} {'mix':>5} {'gen_s':>5} "
            f"{'upd_s':>5} "
            f"{'tok/s':>6}"
            + "".join(f" {_term_label(t):>{_term_width(t)}}" for t in extra_terms(terms)))


STEP_HEADER = step_header()  # a run rewarded by accuracy and format only


def format_step(row: dict, terms=()) -> str:
    """One fixed-width line per step (rates in %), under step_header(terms): then each extra term's
    batch mean."""
    pct = lambda k: 100 * row.get(k, 0.0)  # noqa: E731
    return (f"{row['step']:5d} {row['reward']:6.3f} {pct('r_accuracy'):5.1f} "
            f"{pct('r_format'):5.1f} "
            f"{pct('zero_std_frac'):5.1f} {pct('clip_frac'):5.1f} {row.get('kl', 0):6.4f} "
            f"{row.get('entropy', 0):5.2f} "
            f"{row.get('grad_norm', 0):5.2f} {row['len_mean']:5.0f} {row['len_max']:4d} "
            f"{pct('trunc_rate'):5.1f} "
            f"{pct('aha_rate'):5.1f} {pct('lang_mix_rate'):5.1f} {row['seconds_gen']:5.1f} "
            f"{row.get('seconds_update', 0):5.1f} {row['tokens_per_s']:6.0f}"
            + "".join(f" {_term_value(row.get(f'r_{t}'), _term_width(t))}"
                      for t in extra_terms(terms)))


def reward_terms_summary(rows: list[dict], terms) -> dict:
    """{term: {"first", "last", "mean"}}: each reward term's unweighted batch mean r_<term> at the
    first and the last logged step and over all of them (None when no row has it), for summary.json
    and report.html."""
    out = {}
    for term in terms:
        values = [r[f"r_{term}"] for r in rows if r.get(f"r_{term}") is not None]
        out[term] = {"first": values[0] if values else None, "last": values[-1] if values else None,
                     "mean": sum(values) / len(values) if values else None}
    return out


def _term_label(term: str) -> str:
    return f"r:{term}"


def _term_width(term: str) -> int:
    return max(6, len(_term_label(term)))  # room for "-0.123"


def _term_value(value, width: int) -> str:
    """The value in `width` characters, with as many decimals (3 at most) as fit; "-" when the step
    has none."""
    if value is None:
        return f"{'-':>{width}}"
    for decimals in (3, 2, 1, 0):
        text = f"{value:>{width}.{decimals}f}"
        if len(text) <= width:
            return text
    return text  # wider than the column: shown whole rather than cut
