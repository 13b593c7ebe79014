"""Every "recipe §N" that the code, the kernels and the docs cite resolves to a section of docs/recipe.md, a "## N. ..." heading
(ranges "§9-10" and lists "§6, §9" too); "§N item K" also needs a numbered item "K." in that section.

    python -m pytest tests/test_docs.py -q
"""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "docs", "recipe.md")
SECTION = r"§(\d+)(?:-(\d+))?(?: items? (\d+)(?:-(\d+))?)?"
CITATION = re.compile(rf"recipe ({SECTION}(?:,? (?:and )?{SECTION})*)")


def cited(text: str) -> list[tuple[int, int | None]]:
    """[(section, item or None), ...] of every recipe citation in text; a range gives each number in it."""
    out = []
    for m in CITATION.finditer(text):
        for sec_a, sec_b, item_a, item_b in re.findall(SECTION, m.group(1)):
            for sec in range(int(sec_a), int(sec_b or sec_a) + 1):
                if item_a:
                    out += [(sec, k) for k in range(int(item_a), int(item_b or item_a) + 1)]
                else:
                    out.append((sec, None))
    return out


def sections(markdown: str) -> dict[int, str]:
    """{N: the text under "## N. ..." up to the next "## " heading}."""
    parts = re.split(r"^## ", markdown, flags=re.M)[1:]
    return {int(m.group(1)): part for part in parts if (m := re.match(r"(\d+)\. ", part))}


def missing(citations, secs: dict[int, str]) -> list[str]:
    out = []
    for sec, item in sorted(set(citations), key=lambda c: (c[0], c[1] or 0)):
        if sec not in secs:
            out.append(f"§{sec}")
        elif item is not None and not re.search(rf"^{item}\. ", secs[sec], flags=re.M):
            out.append(f"§{sec} item {item}")
    return out


def repo_citations() -> dict[str, list]:
    """{path: citations} over the repository's code and docs (.py .md .cu .h .cpp; not .git, out/, caches, or this
    file's examples)."""
    found = {}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("out", "__pycache__")]
        for f in files:
            path = os.path.join(folder, f)
            if f.endswith((".py", ".md", ".cu", ".h", ".cpp")) and path != os.path.abspath(__file__):
                if c := cited(open(path, encoding="utf-8").read()):
                    found[os.path.relpath(path, ROOT)] = c
    return found


def test_every_cited_recipe_section_exists():
    found = repo_citations()
    assert len(found) > 20 and "nanor1/grpo.py" in found  # the walk did see the code
    secs = sections(open(RECIPE, encoding="utf-8").read())
    bad = {path: m for path, c in found.items() if (m := missing(c, secs))}
    assert not bad, f"cited but not in docs/recipe.md: {bad}"


def test_the_recipe_numbers_its_sections_in_order():
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", open(RECIPE, encoding="utf-8").read(), flags=re.M)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 10


def test_citations_are_read_in_every_form_the_code_writes():
    text = "(recipe §1) recipe §9-10 (recipe §6, §9) recipe §9 item 1; recipe §9 items 1-4; R1 report §2.2.2"
    assert cited(text) == [(1, None), (9, None), (10, None), (6, None), (9, None), (9, 1), (9, 1), (9, 2), (9, 3),
                           (9, 4)]


def test_a_missing_section_or_item_is_reported():
    secs = sections("# t\n\n## 1. One\ntext\n\n## 2. Two\n1. first item\n2. second item\n")
    assert missing(cited("recipe §1, §2 items 1-2"), secs) == []
    assert missing(cited("recipe §1-3 and recipe §2 item 3"), secs) == ["§2 item 3", "§3"]


def test_the_walkthrough_names_only_code_that_exists():
    """docs/walkthrough.md (written by docs/walkthrough.py) traces a GRPO step by function names: each `name` or
    `module.name` in it must still be found in nanor1's modules, so a rename makes the page fail here, not mislead."""
    import importlib
    modules = [importlib.import_module(f"nanor1.{m}") for m in
               ("grpo", "sampler", "rewards", "tasks", "loss", "optim", "metrics", "rl_loop")]
    with open(os.path.join(ROOT, "docs", "walkthrough.md"), encoding="utf-8") as f:
        text = f.read()
    names = {n for n in re.findall(r"`([A-Za-z_][\w.]*)`", text) if ("_" in n or "." in n) and
             not n.endswith((".py", ".pt", ".md")) and not n.startswith("python")}
    assert {"train_step", "group_advantages", "grpo_token_loss"} <= {n.split(".")[-1] for n in names}

    def resolves(name):
        head, *rest = name.split(".")
        if head == "nanor1":
            obj, rest = importlib.import_module(".".join(name.split(".")[:2])), name.split(".")[2:]
        else:  # a module-level name, a trainer method, or a Rollout field
            from nanor1.grpo import GRPOTrainer, Rollout
            if head in Rollout.__dataclass_fields__:
                return not rest
            obj = next((getattr(m, head) for m in (*modules, GRPOTrainer) if hasattr(m, head)), None)
        for part in rest:
            obj = getattr(obj, part, None)
        return obj is not None
    assert [n for n in sorted(names) if not resolves(n)] == []
