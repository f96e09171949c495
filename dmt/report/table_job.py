"""``python -m dmt compare`` (a comparison's table: methods x split seeds with their statistics,
the long form of every iteration and the last iteration's models: dmt.report.tables.comparison),
``summary`` (every run with results), ``rounds`` (a run's collapse check) and ``protocol-table``
(the modern protocol's runs beside published results); pandas tables from
the runs' final JSONs and rounds records."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from dmt.errors import DMTError
from dmt.items import named_files
from dmt.store.atomic import prepare_outputs

log = logging.getLogger("dmt")


def cmd_compare(args) -> None:
    from dmt.methods import METHODS, ROWS
    from dmt.report import tables
    from dmt.store.atomic import write_text

    inputs = {key: str(path) for key, path in named_files(
        args.inputs, "compare", "METHOD:EXPERIMENT=FILE", "dmt:digits_1_20=results/digits_1_20/final_miou.json")}
    bad = [k for k in inputs if ":" not in k]
    if bad:
        raise DMTError(f"compare takes METHOD:EXPERIMENT=FILE items; got {bad[0]!r}")
    out = Path(args.out_dir)
    prepare_outputs(*(out / f"{args.name}{suffix}"
                      for suffix in (".csv", ".md", ".html", "_iterations.csv", "_models.csv")))
    descriptions = {**{name: m.description for name, m in METHODS.items()}, **ROWS}
    task = tables.comparison_task(inputs, args.task)
    result = tables.comparison(args.name, inputs, descriptions, task.name)
    tables.write(result.table, out / f"{args.name}.csv",
                 title=f"{args.name}: {task.metric_label} (%) of the selected model, per split seed; every method "
                       f"of a split starts from the same baselines",
                 note=tables.seeds_line(result.experiments))
    write_text(out / f"{args.name}_iterations.csv", result.iterations.to_csv(index=False))
    write_text(out / f"{args.name}_models.csv", result.models.to_csv(index=False))
    log.info("%s:\n%s", args.name, result.table.to_string(index=False))


def _table_of_runs(args) -> tuple[Path, object]:
    """A table command's ``--out`` (its .md and .html beside it, prepared) and its ``--runs`` JSON."""
    out = Path(args.out)
    prepare_outputs(out, out.with_suffix(".md"), out.with_suffix(".html"))
    try:
        return out, json.loads(args.runs)
    except ValueError as e:
        raise DMTError(f"--runs is not JSON ({e})") from None


def cmd_summary(args) -> None:
    from dmt.report import tables

    out, runs = _table_of_runs(args)
    table = tables.summary(runs)
    tables.write(table, out, title=args.title)
    log.info("summary of %d runs -> %s", len(table), out)


def cmd_protocol_table(args) -> None:
    """``python -m dmt protocol-table``: a comparison's runs beside published results (dmt.report.protocol)."""
    from dmt.report import tables
    from dmt.report.protocol import protocol_table

    out, runs = _table_of_runs(args)
    table = protocol_table(args.references, runs, args.model)
    tables.write(table, out, title=args.title)
    log.info("protocol table of %d rows -> %s", len(table), out)


def cmd_rounds(args) -> None:
    """``python -m dmt rounds``: a run's collapse check (its rounds record) as the report's table."""
    from dmt.report import tables
    from dmt.report.rounds import read_record, rounds_table, title

    out = Path(args.out)
    prepare_outputs(out, out.with_suffix(".md"), out.with_suffix(".html"))
    record = read_record(args.rounds)
    table = rounds_table(record, args.rounds)
    tables.write(table, out, title=title(args.name, record))
    warnings = record["warnings"]
    if warnings:
        log.warning("%s: collapse check: %d warning(s): %s", args.name, len(warnings), "; ".join(warnings))
    log.info("collapse check of %s, %d rounds -> %s", args.name, len(table), out)
