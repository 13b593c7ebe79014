"""The run report: one self-contained report.html to read a run in a browser, opened from disk.

    write_report("out/zero", summary)              # train_zero.py, beside summary.json and the PNGs
    write_report("out/r1", summary, images=("report.png",), columns=COLUMNS,
                 samples={model: [...]})           # train_r1.py
    python -m nanor1.report out/zero     # (re)build it from a run's summary.json (train_r1's has no
                                           responses in it)

What it shows: the run's PNG plots (embedded as data: URIs), the reward (each term's weight and its
batch mean at the first and last step and over the run; the modules --rewards loaded, with their
sha256), the before/after table, and the responses the evaluator kept at each held-out evaluation:
the first sample of the same few held-out questions every time (the evaluator's choice is fixed by
its seed), each marked right or wrong by the verifier, with the self-correction sentences
highlighted (nanor1.rewards.aha_spans). Scrolling down the evaluations of an R1-Zero run shows what
RL did to the same question: longer thinking, "Wait, ...", and the answers that turn right
(recipe §6-7).

One file, no server, no network: no script, no font or style sheet from elsewhere, every image
inline. All text that a model wrote (and every other string from the summary) is escaped: model
output is untrusted.
"""
import base64
import html
import json
import os
import sys

from nanor1.evaluate import response_mark
from nanor1.metrics import write_atomic
from nanor1.rewards import TAGS, aha_spans, format_ok

# (summary key, column label, shown as a percentage)
ZERO_COLUMNS = [("pass@1", "pass@1", True), ("cons@k", "cons@k", True), ("pass@k", "pass@k", True),
                ("format_rate", "format", True), ("mean_len", "len (tokens)", False),
                ("aha_rate", "aha", True),
                ("acc_aha", "acc | aha", True), ("acc_no_aha", "acc | no aha", True),
                ("lang_mix_rate", "lang mix", True), ("truncation_rate", "truncated", True)]
GROUPS = ("by_family", "by_difficulty", "by_lang")

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.facts { color: #555; } figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0; } th, td { padding: 3px 9px; border-bottom: 1px solid #e4e4e4; }
th { background: #f4f4f4; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid td { text-align: center; } .grid a { text-decoration: none; }
.resp { border-left: 5px solid #bbb; background: #fafafa; margin: 0.8em 0; padding: 0.4em 0.8em; }
.resp.right { border-color: #2a9d3a; } .resp.wrong { border-color: #d33; }
.head { font-size: 0.9em; color: #444; } .q { font-weight: 600; margin: 0.2em 0; }
.ok { color: #1e7d2c; font-weight: 700; } .bad { color: #c62828; font-weight: 700; }
.badge { background: #f6d860; border-radius: 3px; padding: 0 5px; font-size: 0.85em; }
pre { white-space: pre-wrap; word-break: break-word; font: 13px/1.5 ui-monospace, monospace; margin: 0.3em 0; }
mark.aha { background: #ffe27a; border-radius: 2px; padding: 0 1px; } .tag { color: #888; }
"""


def pct(v, is_pct=True) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if is_pct else f"{v:.0f}"


def image_html(path: str, caption: str) -> str:
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def table_html(rows: dict, columns) -> str:
    """rows: name -> metrics dict; columns: (key, label, is_pct). Names and labels are escaped."""
    head = ("<tr><th></th>" + "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in columns)
            + "</tr>")
    body = "".join(f"<tr><th>{html.escape(str(name))}</th>"
                   + "".join(f'<td class="num">{pct(r.get(k), p)}</td>' for k, _, p in columns)
                   + "</tr>"
                   for name, r in rows.items())
    return f"<table>{head}{body}</table>"


def picture_html(checks: list[dict]) -> str:
    """train_r1's checks of the paper's stage-by-stage picture (nanor1/r1_report.py): one row
    each."""
    rows = "".join(f"<tr><td>{html.escape(c['row'])}</td><td>{html.escape(c['claim'])}</td>"
                   f"<td>{html.escape(c['verdict'])}</td><td>{html.escape(c['numbers'])}</td></tr>"
                   for c in checks)
    return ("<p>Each difference is paired over the same held-out problems, +- its 95% "
            "interval.</p><table>"
            "<tr><th>stage</th><th>check</th><th>verdict</th><th>measured</th></tr>"
            + rows + "</table>")


def response_text_html(text: str) -> str:
    """The escaped response, self-correction sentences in <mark class="aha">, the R1 tags dimmed."""
    def piece(s):
        s = html.escape(s)
        for tag in TAGS:
            s = s.replace(html.escape(tag), f'<span class="tag">{html.escape(tag)}</span>')
        return s
    out, last = [], 0
    for a, b in aha_spans(text):
        out += [piece(text[last:a]), f'<mark class="aha">{piece(text[a:b])}</mark>']
        last = b
    return "".join(out + [piece(text[last:])])


def rewards_html(rewards: dict) -> str:
    """summary["rewards"] (train_zero.py): the reward as a sum, one row per term (its weight and
    unweighted batch mean r_<term>), and the modules --rewards loaded, each with the sha256 of its
    source."""
    weights, terms = rewards.get("weights", {}), rewards.get("terms", {})
    num = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    total = " + ".join(f"{w:g} x {name}" for name, w in weights.items())
    head = ("<tr><th>term</th><th>weight</th><th>first step</th><th>last step</th>"
            "<th>mean over the run</th></tr>")
    # noqa: E731
    cells = lambda name: "".join(f'<td class="num">{num(terms.get(name, {}).get(k))}</td>'
                                 for k in ("first", "last", "mean"))
    body = "".join(f'<tr><th>{html.escape(name)}</th><td class="num">{w:g}</td>{cells(name)}</tr>'
                   for name, w in weights.items())
    out = (f"<p>reward = {html.escape(total)}; each term's batch mean, unweighted (r_&lt;term&gt; "
           "in train.jsonl):"
           f"</p><table>{head}{body}</table>")
    modules = rewards.get("modules") or []
    if modules:
        out += "<p>loaded by --rewards:</p><ul>" + "".join(
            f"<li><code>{html.escape(str(m.get('entry')))}</code> "
            f"({html.escape(str(m.get('file')))}), sha256 "
            f"<code>{html.escape(str(m.get('sha256')))}</code></li>" for m in modules) + "</ul>"
    return out


def sample_html(s: dict, label: str, anchor: str) -> str:
    """One kept response: question, verdict mark, length, self-corrections, the text."""
    text = s.get("response", "")
    correct = s.get("correct")
    mark = response_mark(correct, s.get("format", format_ok(text)))
    n_aha = len(aha_spans(text))
    verdict = (f'<span class="ok">&#10003; {html.escape(mark)}</span>' if correct
               else f'<span class="bad">&#10007; {html.escape(mark)}</span>')
    facts = [verdict] + ([f"{int(s['len'])} tokens"] if s.get("len") is not None else [])
    facts.append(f'<span class="badge">{n_aha} self-correction{"s" if n_aha != 1 else ""}</span>'
                 if n_aha else "no self-correction")
    return (f'<div class="resp {"right" if correct else "wrong"}" id="{anchor}">'
            f'<div class="head">{html.escape(label)} &middot; {" &middot; ".join(facts)}</div>'
            f'<div class="q">{html.escape(s.get("question", ""))}</div>'
            f"<pre>{response_text_html(text)}</pre></div>")


def samples_html(sections: list[tuple[str, str, list]]) -> str:
    """sections: (heading, note, samples). An overview grid (one row per section, one column per
    question, linking to the response), then every section's responses. Questions are numbered in
    order of first appearance."""
    questions = []
    for _, _, samples in sections:
        for s in samples:
            if s.get("question") not in questions:
                questions.append(s.get("question"))
    head = "<tr><th></th>" + "".join(f"<th>Q{j + 1}</th>" for j in range(len(questions))) + "</tr>"
    grid, blocks = [head], []
    for i, (heading, note, samples) in enumerate(sections):
        cells = {}
        block = [f'<h3 id="e{i}">{html.escape(heading)}</h3>'
                 + (f'<p class="facts">{html.escape(note)}</p>' if note else "")]
        for s in samples:
            j = questions.index(s.get("question"))
            anchor = f"e{i}-q{j}"
            block.append(sample_html(s, f"Q{j + 1}", anchor))
            sign = "&#10003;" if s.get("correct") else "&#10007;"
            aha = " aha" if aha_spans(s.get("response", "")) else ""
            cells.setdefault(j,
                             f'<a href="#{anchor}" '
                             f'class="{"ok" if s.get("correct") else "bad"}">{sign}{aha}</a>')
        grid.append(f'<tr><th><a href="#e{i}">{html.escape(heading)}</a></th>'
                    + "".join(f"<td>{cells.get(j, '')}</td>" for j in range(len(questions)))
                    + "</tr>")
        blocks.append("".join(block))
    legend = ("<p>"
              + "<br>".join(f"Q{j + 1}: {html.escape(str(q))}" for j, q in enumerate(questions))
              + "</p>")
    return f'<table class="grid">{"".join(grid)}</table>{legend}' + "".join(blocks)


def zero_sections(summary: dict) -> tuple[str, list]:
    """train_zero's summary: the base/best/final table, and one section per held-out evaluation of
    the curve."""
    base, final, best = summary.get("base") or {}, summary.get("final") or {}, summary.get("best")
    rows = {f"base (step {base.get('step', 0)})": base}
    if best and best.get("step") != final.get("step"):
        rows[f"best (step {best.get('step')})"] = best
    rows[f"final (step {final.get('step', 0)})"] = final
    table = table_html(rows, ZERO_COLUMNS)
    groups = [(g, name) for g in GROUPS for name in base.get(g, {})]
    if groups:
        cols = [(f"{g}/{name}", f"{'' if g == 'by_family' else g[3:] + ' '}{name}", True)
                for g, name in groups]
        flat = {k: {f"{g}/{n}": r.get(g, {}).get(n, {}).get("pass@1") for g, n in groups}
                for k, r in rows.items()}
        table += "<p>pass@1 by family, difficulty and prompt language:</p>" + table_html(flat, cols)
    sections = [(f"step {p.get('step')}",
                 f"pass@1 {pct(p.get('pass@1'))}, aha {pct(p.get('aha_rate'))}, mean length "
                 f"{pct(p.get('mean_len'), False)} tokens", p.get("samples", []))
                for p in summary.get("curve", [])]
    return table, sections


def write_report(out_dir: str, summary: dict, title: str = "nanor1 run", images=None, columns=None,
                 samples: dict | None = None) -> str:
    """Write out_dir/report.html and return its path.

    summary with "curve" (train_zero.py): the base/best/final table, responses per held-out
    evaluation. summary with "models" (train_r1.py): one row per model with `columns`, responses per
    model from `samples` (model name -> the evaluator's samples). images: PNG files in out_dir,
    embedded in this order (missing ones are skipped; None: curve.png and train.png, or report.png
    for train_r1)."""
    if images is None:
        images = ("curve.png", "train.png") if "curve" in summary else ("report.png",)
    if "curve" in summary:
        table, sections = zero_sections(summary)
        intro = "The first sample of the same held-out questions at every held-out evaluation."
    else:
        table = table_html(summary.get("models", {}), columns or ZERO_COLUMNS)
        sections = [(name, "", s) for name, s in (samples or {}).items() if s]
        intro = "The first sample of the same held-out questions for every model."
    facts = [f"preset {summary['preset']}"] if "preset" in summary else []
    if "grpo_config" in summary:
        facts.append(f"{summary['grpo_config'].get('steps')} GRPO steps")
    if "seconds" in summary:
        facts.append(f"{summary['seconds'] / 60:.1f} min")
    if summary.get("base_checkpoint"):
        facts.append(f"base {summary['base_checkpoint']}")
    parts = ["<!doctype html><html lang=\"en\"><head><meta "
             f"charset=\"utf-8\"><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f'<p class="facts">{html.escape(" · ".join(facts))}</p>']
    figures = [image_html(os.path.join(out_dir, name), name) for name in images
               if os.path.exists(os.path.join(out_dir, name))]
    if figures:
        parts += ["<h2>Plots</h2>"] + figures
    if summary.get("rewards"):
        parts += ["<h2>Reward</h2>", rewards_html(summary["rewards"])]
    parts += ["<h2>Before and after</h2>" if "curve" in summary else "<h2>Models</h2>", table]
    if summary.get("picture"):
        parts += ["<h2>The stage-by-stage picture</h2>", picture_html(summary["picture"])]
    if sections:
        parts += ["<h2>Responses</h2>", f"<p>{html.escape(intro)} Self-corrections are "
                  '<mark class="aha">highlighted</mark>; &#10003; right, &#10007; wrong by the '
                  'verifier.</p>',
                  samples_html(sections)]
    parts.append("</body></html>\n")
    path = os.path.join(out_dir, "report.html")
    write_atomic(path, "\n".join(parts))
    return path


def main(argv):
    if len(argv) != 1 or argv[0].startswith("-"):
        raise SystemExit("usage: python -m nanor1.report RUN_DIR   (a directory holding "
                         "summary.json)")
    path = os.path.join(argv[0], "summary.json")
    if not os.path.exists(path):
        raise SystemExit(f"error: {path} not found")
    with open(path) as f:
        summary = json.load(f)
    print("wrote "
          f"{write_report(argv[0], summary, title=f'nanor1: {os.path.basename(os.path.abspath(argv[0]))}')}")


if __name__ == "__main__":
    main(sys.argv[1:])
