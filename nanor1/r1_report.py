"""train_r1.py's report: the models' table, the change each stage makes, and the paper's
stage-by-stage picture (recipe §5), each of its checks with the paired 95% interval that says
whether the evaluation's noise could decide it.

    write_r1_report("out/r1", summary, samples)     # train_r1.py, at the end of a run
    python -m nanor1.r1_report out/r1 out/r1_seed1  # the picture of several runs (seeds)
                                                      side by side

A check compares two models on the same held-out problems: per problem the share of its responses
that are right (or readable, or mixed), then the mean difference over the problems and 1.96 standard
errors of it (nanor1.evaluate.paired_difference). A check holds when the measured difference clears
its margin; it is "decided" when the whole interval lies on that side of the margin, and "within
noise" when the interval straddles the margin, whichever side the difference falls on. Several runs
side by side: a check is a finding only when every run decides it the same way.
"""
import json
import os
import sys

from nanor1.distributed import is_main
from nanor1.evaluate import paired_difference
from nanor1.metrics import plt, save_figure, write_atomic  # plt: the file-only backend
from nanor1.report import write_report
from nanor1.tasks import DIFFICULTIES, FAMILIES

BASE, ZERO, S1, S2, S3, S4 = ("base", "R1-Zero", "stage 1 cold start", "stage 2 reasoning RL",
                              "stage 3 rejection SFT", "stage 4 all-scenario RL")
MIX = "zh_lang_mix_rate_T1"
# (summary key, column label, shown as a percentage)
COLUMNS = [("pass@1", "pass@1", True), ("cons@k", "cons@4", True), ("format_rate", "format", True),
           ("lang_mix_rate", "mix", True), (MIX, "mix(zh,T=1)", True), ("mean_len", "len", False),
           ("truncation_rate", "trunc", True), ("aha_rate", "aha", True),
           ("readable_rate", "readable", True), ("general_pass@1", "translation", True)]
BREAKDOWN = [(f"pass@1/{name}", name, True)
             for name in (*FAMILIES, *(f"difficulty {d}" for d in DIFFICULTIES))]
# (model, the model it starts from or is measured against): the change table's rows
CHANGES = [(ZERO, BASE), (S1, BASE), (S2, S1), (S3, S2), (S4, S3), (S4, ZERO),
           ("student distilled", "student base"), ("student R1-Zero RL", "student base"),
           ("student distilled", "student R1-Zero RL")]


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


# -----------------------------------------------------------------------------
# tables

def report_table(models: dict, columns=COLUMNS) -> str:
    def cell(v, is_pct):
        return "-" if v is None else (pct(v) if is_pct else f"{v:.0f}")
    lines = ["| model | " + " | ".join(c[1] for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for name, r in models.items():
        lines.append(f"| {name} | " + " | ".join(cell(r.get(k), p) for k, _, p in columns) + " |")
    return "\n".join(lines)


def change_table(models: dict) -> str:
    """One row per CHANGES pair present: the difference of every column (rates in points, length in
    tokens)."""
    def cell(a, b, is_pct):
        if a is None or b is None:
            return "-"
        return f"{100 * (a - b):+.1f}" if is_pct else f"{a - b:+.0f}"
    lines = ["| change | " + " | ".join(c[1] for c in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for new, old in CHANGES:
        if new in models and old in models:
            cells = [cell(models[new].get(k), models[old].get(k), p) for k, _, p in COLUMNS]
            lines.append(f"| {new} vs {old} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -----------------------------------------------------------------------------
# the stage-by-stage picture (recipe §5): each check paired over the same held-out problems

def compare(models: dict, row: str, claim: str, new: str, old: str, key: str, margin: float,
            at_most: bool = False, family: str | None = None) -> dict | None:
    """new's `key` minus old's, paired per problem (only `family`'s problems if given); holds when
    the difference is >= margin (at_most: <= margin). None when a model or its per-problem record
    is missing."""
    a = (models.get(new) or {}).get("per_problem", {})
    b = (models.get(old) or {}).get("per_problem", {})
    if key not in a or key not in b:
        return None
    shares_a, shares_b = a[key], b[key]
    if family:
        shares_a = {pid: v for pid, v in shares_a.items() if a["family"].get(pid) == family}
    d = paired_difference(shares_a, shares_b)
    holds = d["diff"] <= margin + 1e-9 if at_most else d["diff"] >= margin - 1e-9
    # decided: the whole interval lies on the side of the margin that the difference lies on
    if d["ci95"] is None:
        decided = False
    elif holds:
        decided = d["hi"] <= margin if at_most else d["lo"] >= margin
    else:
        decided = d["lo"] > margin if at_most else d["hi"] < margin
    numbers = (f"{pct(models[new].get(key))} vs {old} {pct(models[old].get(key))}: "
               if not family else f"{family} ")
    numbers += f"{100 * d['diff']:+.1f}" + (f" +- {100 * d['ci95']:.1f}"
                                            if d["ci95"] is not None else "")
    return {"row": row, "claim": claim, "holds": holds, "decided": decided, "numbers": numbers,
            "margin": margin, **d}


def stage_picture(models: dict, distill_seeds: list | None = None) -> list[dict]:
    """The checks of the paper's stage-by-stage picture that this run's models allow
    (recipe §5)."""
    z_mix = (models.get(ZERO) or {}).get(MIX)
    checks = [
        compare(models, "stage 1", "readable >= R1-Zero's + 5 points",
                S1, ZERO, "readable_rate", 0.05),
        compare(models, "stage 1", "language mixing (zh, T=1) <= R1-Zero's",
                S1, ZERO, MIX, 0.0, at_most=True),
        compare(models, "stage 2", "reasoning pass@1 >= stage 1's + 5 points",
                S2, S1, "pass@1", 0.05),
        family_check(models, "stage 2", S2, S1, -0.03),
        compare(models, "stage 3", "reasoning pass@1 >= stage 2's - 2 points",
                S3, S2, "pass@1", -0.02),
        compare(models, "stage 4", "translation >= stage 3's + 5 points",
                S4, S3, "general_pass@1", 0.05),
        compare(models, "stage 4", "reasoning pass@1 >= R1-Zero's - 3 points",
                S4, ZERO, "pass@1", -0.03),
        compare(models, "stage 4", "readable >= R1-Zero's + 5 points",
                S4, ZERO, "readable_rate", 0.05),
        compare(models, "stage 4", "language mixing (zh, T=1) <= the base's",
                S4, BASE, MIX, 0.0, at_most=True),
        compare(models, "stage 4", "language mixing (zh, T=1) <= half of R1-Zero's",
                S4, ZERO, MIX, -(z_mix or 0.0) / 2, at_most=True),
    ]
    if S3 in models and models[S3].get("general_pass@1") is not None:
        learned = models[S3]["general_pass@1"]
        checks.insert(5, {"row": "stage 3", "claim": "translation learned (> 0)",
                          "holds": learned > 0, "decided": learned > 0, "numbers": pct(learned)})
    if distill_seeds:
        mean = {arm: sum(x[f"{arm} pass@1"] for x in distill_seeds) / len(distill_seeds)
                for arm in ("distilled", "rl")}
        each = ", ".join(f"{pct(x['distilled pass@1'])} vs {pct(x['rl pass@1'])}"
                         for x in distill_seeds)
        checks.append({"row": "distillation", "holds": mean["distilled"] > mean["rl"],
                       "decided": None,
                       "claim": "distilled student ahead of the RL'd student on the mean "
                                f"(pass@1, {len(distill_seeds)} seed(s))",
                       "numbers": f"{pct(mean['distilled'])} vs {pct(mean['rl'])} ({each})"})
    return [{**c, "verdict": verdict(c)} for c in checks if c]


def family_check(models: dict, row: str, new: str, old: str, margin: float) -> dict | None:
    """No task family loses more than -margin points of pass@1 from old to new; the numbers name the
    worst."""
    per = {f: compare(models, row, "", new, old, "pass@1", margin, family=f) for f in FAMILIES}
    per = {f: c for f, c in per.items() if c and c["n_problems"]}
    if not per:
        return None
    worst = min(per.values(), key=lambda c: c["diff"])
    holds = all(c["holds"] for c in per.values())
    return {**worst, "claim": f"no family loses more than {-100 * margin:.0f} points of pass@1",
            "holds": holds,
            # holding is decided when every family's is; failing, when one family's fall is
            "decided": (all(c["decided"] for c in per.values()) if holds
                        else any(c["decided"] for c in per.values() if not c["holds"])),
            "numbers": "worst " + worst["numbers"] + "; " + ", ".join(
                f"{f} {100 * c['diff']:+.1f}" for f, c in per.items())}


def summary_picture(summary: dict) -> list[dict]:
    """The picture's checks of a train_r1 summary (its models and its distillation seeds)."""
    return stage_picture(summary["models"],
                         (summary["stages"].get("distill") or {}).get("seeds_eval"))


def verdict(check: dict) -> str:
    """holds / DOES NOT HOLD when the interval decides it (or the check has none); "(within
    noise)" when the interval straddles the margin: the evaluation cannot tell the two apart."""
    said = "holds" if check["holds"] else "DOES NOT HOLD"
    return said if check["decided"] is not False else said.lower() + " (within noise)"


def across_runs(checks: list[dict]) -> str:
    """One check in several runs (seeds): a finding only when every run decides it the same way;
    otherwise the runs' chance or the evaluation's noise decides it at this scale."""
    sides = {c["holds"] for c in checks}
    if len(sides) > 1:
        return "differs between runs"
    side = "holds" if sides.pop() else "does not hold"
    undecided = sum(c["decided"] is False for c in checks)
    if not undecided:
        return f"{side} in every run"
    return f"{side} in every run, within noise in " + ("all" if undecided == len(checks) else "some")


def picture_text(checks: list[dict]) -> str:
    return "\n".join(f"- {c['row']}: {c['verdict']}: {c['claim']} ({c['numbers']})" for c in checks)


def side_by_side(runs: dict) -> str:
    """runs: label -> summary.json of a train_r1 run. One row per check, one column per run."""
    pictures = {label: {(c["row"], c["claim"]): c for c in s.get("picture", [])}
                for label, s in runs.items()}
    keys = list(dict.fromkeys(k for p in pictures.values() for k in p))
    lines = ["| stage | check | " + " | ".join(runs) + " | across the runs |",
             "|---|---|" + "---|" * (len(runs) + 1)]
    for key in keys:
        cells = [f"{p[key]['verdict']}: {p[key]['numbers']}" if key in p else "-"
                 for p in pictures.values()]
        each = [p[key] for p in pictures.values() if key in p]
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells)
                     + f" | {across_runs(each)} |")
    return "\n".join(lines)


# -----------------------------------------------------------------------------
# the written report

def stage_notes(stages: dict) -> str:
    out = []
    if "zero" in stages:
        out.append(f"- R1-Zero: {stages['zero'].get('grpo_config', {}).get('steps')} GRPO steps "
                   f"from the base, {stages['zero'].get('seconds')} s")
    if "1" in stages:
        out.append(f"- stage 1: cold-start builder {stages['1'].get('builder')}, "
                   f"{stages['1'].get('seconds')} s")
    if "2" in stages:
        out.append(f"- stage 2: {stages['2'].get('seconds')} s")
    if "3" in stages:
        out.append(f"- stage 3: rejection sampling {stages['3'].get('rejection')}, "
                   f"{stages['3'].get('seconds')} s")
    if "4" in stages:
        s4 = stages["4"]
        scored = ("the reward model, held-out pair accuracy "
                  + pct(s4["reward_model"]["heldout_pair_accuracy"]["accuracy"])
                  + f" {s4['reward_model']['heldout_pair_accuracy']}"
                  if s4.get("reward_model") else "its exact checker (no reward model)")
        out.append(f"- stage 4: {s4.get('general_steps')} of "
                   f"{s4.get('grpo_config', {}).get('steps')} steps on translation prompts, "
                   f"scored by {scored}; {s4.get('seconds')} s")
    for x in stages.get("distill", {}).get("seeds", []):
        out.append(f"- distillation, seed {x['seed']}: SFT {x['seconds_sft']} s vs R1-Zero RL on "
                   f"the student {x['seconds_rl']} s")
    return "\n".join(out)


def plot_report(models: dict, path: str) -> None:
    keys = [("pass@1", "reasoning pass@1"), ("readable_rate", "readable"),
            ("general_pass@1", "translation"), (MIX, "language mixing (zh prompts, T=1)"),
            ("mean_len", "mean length (tokens)")]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.6))
    names = list(models)
    for ax, (k, title) in zip(axes, keys):
        ax.barh(range(len(names)), [models[n].get(k) or 0.0 for n in names], color="tab:blue")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names if ax is axes[0] else [""] * len(names), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    save_figure(fig, path)


def report_text(summary: dict, timing: str) -> str:
    """report.md: the models, the changes, the breakdown by family and difficulty, the picture, the
    stage notes."""
    models = summary["models"]
    return (f"# nanor1 R1 recipe, preset {summary['preset']}, "
            f"seed {summary.get('seed', 0)} ({timing})\n\n"
            + report_table(models) + "\n\nChange made by each stage (points; len in tokens):\n\n"
            + change_table(models) + "\n\nReasoning pass@1 by family and by difficulty:\n\n"
            + report_table(models, BREAKDOWN)
            + "\n\nThe paper's stage-by-stage picture, measured (each difference paired over the "
              "same held-out problems, +- its 95% interval):\n\n"
            + picture_text(summary.get("picture", []))
            + "\n\n\"Within noise\": the interval straddles the margin, so this held-out set cannot "
              "tell the check's two outcomes apart (several seeds side by side: python -m "
              "nanor1.r1_report RUN_DIR ...). A row that does not hold at this scale: docs/results.md "
              "lists the levers tried on the recipe for it and what each did (\"Stages 3 and 4: the "
              "levers\").\n\n"
            + stage_notes(summary["stages"]) + "\n")


def write_r1_report(out_dir: str, summary: dict, timing: str, samples: dict, images=()) -> str:
    """report.md, report.png and report.html (nanor1/report.py) in out_dir; returns report.md's
    text."""
    text = report_text(summary, timing)
    if is_main():
        write_atomic(os.path.join(out_dir, "report.md"), text)
        plot_report(summary["models"], os.path.join(out_dir, "report.png"))
        write_report(out_dir, summary, title=f"nanor1 R1 recipe, preset {summary['preset']}",
                     columns=COLUMNS, images=("report.png", *images), samples=samples)
    return text


def main(argv):
    if not argv or any(a.startswith("-") for a in argv):
        raise SystemExit("usage: python -m nanor1.r1_report RUN_DIR [RUN_DIR ...]"
                         "   (train_r1 out_dirs)")
    runs = {}
    for d in argv:
        path = os.path.join(d, "summary.json")
        if not os.path.exists(path):
            raise SystemExit(f"error: {path} not found (run train_r1.py --out_dir={d} first)")
        with open(path) as f:
            s = json.load(f)
        # decided again from the models' per-problem records: a run written by an older report
        # is read by the same rules as a new one
        s["picture"] = summary_picture(s)
        runs[f"{d} (seed {s.get('seed', '?')})"] = s
    print(side_by_side(runs))


if __name__ == "__main__":
    main(sys.argv[1:])
