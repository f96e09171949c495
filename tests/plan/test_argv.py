"""Options -> argv (dmt.plan.argv.flags) and the rules that render them: option names are spelt
by the plan only, and every job's benchmark file follows one convention."""

from __future__ import annotations

import re

import pytest
from helpers import REPO

from dmt.cli import build_parser
from dmt.plan import flags

RULES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


def test_flags_renders_each_kind_of_value():
    options = {"batch_size": 8, "seed": 0, "pad_to": [321, 321], "no_amp": True, "labeled_list": None,
               "valtiny_from_train": False, "models": {"5:A": "a b.pt", "5:B": "b.pt"}, "title": "x: y (%)"}
    assert flags(options) == ["--batch-size", "8", "--seed", "0", "--pad-to", "321", "321", "--no-amp",
                              "--models", "5:A=a b.pt", "5:B=b.pt", "--title", "x: y (%)"]
    assert flags({}) == []


@pytest.mark.parametrize("value", [0, 0.0, ""])
def test_a_falsy_value_that_is_not_false_or_none_is_still_given(value):
    # 0 is a seed, "" an empty fingerprint: leaving them out would silently take the default.
    assert flags({"seed": value}) == ["--seed", str(value)]


def test_rendered_options_parse_back_to_the_same_values():
    argv = flags({"dataset": "digits", "batch_size": 16, "pad_to": (32, 48), "no_amp": True})
    args = build_parser().parse_args(["evaluate", *argv, "--data", "d", "--model", "m", "--valtiny", "v",
                                      "--out", "o"])
    assert (args.dataset, args.batch_size, tuple(args.pad_to), args.no_amp) == ("digits", 16, (32, 48), True)


def _rule_blocks():
    for path in RULES:
        for block in re.split(r"\n(?=(?:rule|use rule) )", path.read_text()):
            if block.startswith("rule "):
                yield path.name, block


# The options a rule's shell line may spell itself: its own files, wildcards and the log; every
# other option comes from a plan method's dict (params.args), so its name lives in the plan.
FILE_OPTIONS = {"--log", "--spec", "--out", "--out-dir", "--out-a", "--out-b", "--data", "--model", "--valtiny",
                "--labeled", "--images", "--final", "--checkpoint", "--name", "--rounds"}


def test_rules_spell_no_option_but_their_files():
    for name, block in _rule_blocks():
        shell = block.partition("shell:")[2]
        spelt = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", shell))
        assert spelt <= FILE_OPTIONS, f"{name}: {block.split(':')[0]} spells {sorted(spelt - FILE_OPTIONS)}"


def test_every_benchmark_lies_beside_its_log():
    seen = 0
    for name, block in _rule_blocks():
        log = re.search(r'log:\n\s+"([^"]+)\.log"', block)
        bench = re.search(r'benchmark:\n\s+"([^"]+)\.tsv"', block)
        if bench:
            seen += 1
            assert log and log.group(1) == bench.group(1), f"{name}: {block.splitlines()[0]}"
    assert seen >= 15


def test_computing_rules_share_one_resources_helper():
    text = "\n".join(p.read_text() for p in RULES)
    assert "mem_mb=" not in text.replace("def resources_of", "")
    assert text.count('**resources_of("') == 5 and text.count("threads: threads_of") == 5
