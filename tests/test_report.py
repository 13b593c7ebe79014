"""The run report (nanor1/report.py): one self-contained HTML file, checked by its structure (no browser)."""
import base64
import html.parser

import torch

from nanor1.evaluate import evaluate
from nanor1.model import GPT, ModelConfig
from nanor1.report import write_report
from nanor1.tokenizer import get_tokenizer

RIGHT = ("<think> numbers 1 8 1, target 9: try (1*8)-1: 1*8=8, 8-1=7. 7 vs 9: no. Wait, numbers 1 8 1, target 9: "
         "try (1*8)+1: 1*8=8, 8+1=9. 9 vs 9: yes. </think> <answer> (1*8)+1 </answer>")
WRONG = ("<think> numbers 1 8 1, target 9: try (1-8)-1: 1-8=-7, -7-1=-8. -8 vs 9: no. </think> "
         "<answer> (1-8)-1 </answer>")
EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)> see https://example.com/x"
PNG = b"\x89PNG\r\n\x1a\n fake image bytes"


class Page(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text inside each <mark class="aha">."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.marks, self.in_mark = [], [], False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "mark":
            self.in_mark = True
            self.marks.append("")

    def handle_endtag(self, tag):
        if tag == "mark":
            self.in_mark = False

    def handle_data(self, data):
        if self.in_mark:
            self.marks[-1] += data

    def find(self, tag, cls=None):
        return [a for t, a in self.tags if t == tag and (cls is None or cls in a.get("class", "").split())]


def sample(text, correct, question="Using the numbers 1 8 1, reach the target 9"):
    return {"question": question, "response": text, "correct": correct, "format": True, "len": 40}


def point(step, samples, p1=0.1):
    return {"step": step, "pass@1": p1, "aha_rate": 0.2, "mean_len": 50.0, "format_rate": 1.0,
            "by_difficulty": {"1": {"pass@1": p1}}, "samples": samples}


def zero_summary():
    curve = [point(0, [sample(WRONG, False), sample(EVIL, False, "Q two")]),
             point(10, [sample(RIGHT, True), sample(WRONG, False, "Q two")], p1=0.3)]
    return {"preset": "tiny", "seconds": 12.0, "grpo_config": {"steps": 10}, "base": curve[0], "final": curve[-1],
            "best": curve[-1], "curve": curve}


def report(tmp_path, summary=None, **kw):
    (tmp_path / "curve.png").write_bytes(PNG)
    path = write_report(str(tmp_path), summary or zero_summary(), **kw)
    return open(path).read()


def test_report_parses_and_embeds_the_plots_as_data_uris(tmp_path):
    page = Page(report(tmp_path))
    srcs = [a["src"] for a in page.find("img")]
    assert srcs == ["data:image/png;base64," + base64.b64encode(PNG).decode()]  # train.png is absent: skipped


def test_report_has_the_before_after_table(tmp_path):
    text = report(tmp_path)
    assert "<h2>Before and after</h2>" in text and "<th>base (step 0)</th>" in text
    assert "<th>final (step 10)</th>" in text and "30.0%" in text and "<th>difficulty 1</th>" in text


def test_report_refers_to_nothing_outside_itself(tmp_path):
    page = Page(report(tmp_path))
    assert not page.find("script") and not page.find("link") and not page.find("iframe")
    for _, attrs in page.tags:
        for name in ("src", "href"):
            if name in attrs:
                assert attrs[name].startswith(("data:", "#")), attrs[name]


def test_model_text_is_escaped(tmp_path):
    text = report(tmp_path)
    page = Page(text)
    assert len(page.find("img")) == 1 and not page.find("script")  # the plot; the model's <img> is text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in text


def test_responses_are_marked_and_self_corrections_highlighted(tmp_path):
    page = Page(report(tmp_path))
    assert len(page.find("div", "resp")) == 4
    assert len(page.find("div", "right")) == 1 and len(page.find("div", "wrong")) == 3
    assert page.marks == ["highlighted",  # the legend, then the one self-correction among the responses
                          "Wait, numbers 1 8 1, target 9: try (1*8)+1: 1*8=8, 8+1=9."]


def test_the_overview_links_each_question_at_each_evaluation(tmp_path):
    page = Page(report(tmp_path))
    links = {a["href"] for a in page.find("a")}
    anchors = {a["id"] for _, a in page.tags if "id" in a}
    assert {"#e0-q0", "#e0-q1", "#e1-q0", "#e1-q1"} <= links and {h[1:] for h in links} <= anchors


def test_r1_report_has_one_row_and_one_section_per_model(tmp_path):
    summary = {"preset": "tiny", "models": {"base": {"pass@1": 0.1}, "stage 2 reasoning RL": {"pass@1": 0.4}}}
    text = report(tmp_path, summary, columns=[("pass@1", "pass@1", True)],
                  samples={"base": [sample(WRONG, False)], "stage 2 reasoning RL": [sample(RIGHT, True)]})
    page = Page(text)
    assert "<th>stage 2 reasoning RL</th>" in text and "40.0%" in text
    assert len(page.find("div", "right")) == 1 and len(page.find("div", "wrong")) == 1


def test_evaluations_keep_the_same_questions_with_their_verdicts():
    tok = get_tokenizer()
    cfg = ModelConfig.preset("tiny", vocab_size=tok.vocab_size)
    kept = []
    for seed in (0, 1):  # two different models, as at two points of a run
        torch.manual_seed(seed)
        res = evaluate(GPT(cfg), tok, n_per_cell=1, k=2, max_new_tokens=8, families=("countdown", "linear"),
                       difficulties=(1,), return_samples=2)
        kept.append(res["samples"])
    assert [s["question"] for s in kept[0]] == [s["question"] for s in kept[1]]
    assert kept[0][0]["response"] != kept[1][0]["response"]
    for s in kept[0]:
        assert set(s) == {"question", "response", "correct", "format", "len"} and 1 <= s["len"] <= 8
