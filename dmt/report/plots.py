"""The report's figures, drawn from plain data (what ``dmt.report.data`` reads from a run's files).

matplotlib's object API on the Agg canvas: no pyplot, no display, no global state, so the figures
render the same on a headless CI machine as on a desktop. Every PNG is written atomically.

Every function takes a list of runs where a figure can compare them: one run draws its models
(A and B), several runs draw a colour each with both of its chains (A solid, B dashed), so a
comparison of methods is the same figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter

from dmt import IGNORE_INDEX
from dmt.store.atomic import atomic_path

# Snakemake's report scales a figure to its content pane (~1,000 px of a 1,400 px window): figures
# stay under ~10 inches wide so that their text stays legible there, at a resolution that keeps
# them sharp when opened on their own.
DPI = 130
# Pixels a pseudo label drops (confidence below its class's tau): white, as in the paper's Fig. 6;
# no class of the VOC palette is white.
DROPPED_RGB = (255, 255, 255)
MODEL_STYLE = {"A": dict(color="tab:blue", marker="o"), "B": dict(color="tab:orange", marker="s")}
# A comparison's chains: the method's colour, model A solid, model B dashed
CHAIN_STYLE = {"A": dict(linestyle="-", marker="o"), "B": dict(linestyle="--", marker="s")}
LEAST_CONFIDENT_FRAME = "tab:orange"
METHOD_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, out) -> None:
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


# ----------------------------------------------------------------------------- metric by iteration


@dataclass(frozen=True)
class RunCurve:
    """A run's metric after every iteration, per model, from its final JSON (``dmt.evaluation.final``)."""

    label: str  # the method, in comparisons
    values: dict[str, list[float]]  # model -> metric at iterations 0..N
    selected: tuple[str, int]  # (model, iteration) the run's final selection picked
    baseline: float
    baseline_selected: str  # e.g. "B0"

    @property
    def selected_value(self) -> float:
        model, iteration = self.selected
        return self.values[model][iteration]


def _curve_lines(runs: list[RunCurve]) -> list[tuple[list[float], dict]]:
    """(values, line style) of every model of every run: one run colours its models (MODEL_STYLE);
    a comparison colours its methods, each drawing both chains (A solid, B dashed) so that the model
    its selection did not pick stays in sight."""
    if len(runs) == 1:
        return [(v, dict(MODEL_STYLE.get(m, {}), label=f"model {m}")) for m, v in runs[0].values.items()]
    return [(v, dict(CHAIN_STYLE.get(m, {}), color=METHOD_COLORS[k % len(METHOD_COLORS)], label=f"{run.label} {m}"))
            for k, run in enumerate(runs) for m, v in run.values.items()]


def draw_metric_by_iteration(runs: list[RunCurve], *, metric: str, title: str,
                             oracle: float | None = None) -> Figure:
    """Figures 6 and 9 of the paper: the metric after each iteration (0 = the baseline trained on
    the labeled images) against the baseline and, where given, the fully supervised oracle."""
    compared = len(runs) > 1
    # a comparison's legend (a line per method and chain, a star per method) goes beside the axes
    fig = new_figure(9.5 if compared else 7.5, 4.6)
    ax = fig.add_subplot()
    last = max(len(v) for run in runs for v in run.values.values()) - 1
    for values, style in _curve_lines(runs):
        ax.plot(range(len(values)), [100 * v for v in values], linewidth=1.8, markersize=5, **style)
    for run in runs:
        model, iteration = run.selected
        name = f"{run.label}: " if compared else ""
        ax.plot([iteration], [100 * run.selected_value], linestyle="none", marker="*", markersize=15,
                color="gold", markeredgecolor="black", zorder=5,
                label=f"{name}selected {model}{iteration}: {100 * run.selected_value:.1f}")
    base = runs[0]  # every run of an experiment starts from the same baselines
    ax.axhline(100 * base.baseline, color="grey", linestyle="--", linewidth=1.2,
               label=f"baseline {base.baseline_selected}: {100 * base.baseline:.1f}")
    if oracle is not None:
        ax.axhline(100 * oracle, color="black", linestyle=":", linewidth=1.4,
                   label=f"oracle (all labels): {100 * oracle:.1f}")
    ax.set_xticks(range(last + 1))
    ax.set_xlabel("iteration (0: trained on the labeled images only)")
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if compared:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize=7, framealpha=0.9)
    else:
        ax.legend(loc="best", fontsize=8, framealpha=0.9)
    return fig


def plot_metric_by_iteration(runs: list[RunCurve], out, *, metric: str, title: str,
                             oracle: float | None = None) -> None:
    """draw_metric_by_iteration's figure, written to ``out`` as PNG."""
    save(draw_metric_by_iteration(runs, metric=metric, title=title, oracle=oracle), out)


# ----------------------------------------------------------------------------- pseudo labels


@dataclass(frozen=True)
class PseudoSet:
    """One pseudo-label set: per class the share kept and the precision of what was kept
    (NaN where undefined; ``precision`` None without ground truth), and the same over all classes."""

    iteration: int
    teacher: str  # the model of iteration - 1 that labelled
    alpha: float
    kept: np.ndarray
    kept_all: float
    precision: np.ndarray | None
    precision_all: float | None

    @property
    def name(self) -> str:
        return f"iter {self.iteration}: {self.teacher}{self.iteration - 1} labels, α {self.alpha:g}"


def _heatmap(fig: Figure, ax, rows: list[np.ndarray], row_names: list[str], col_names: list[str],
             title: str, cmap_name: str) -> None:
    data = 100 * np.array(rows, dtype=np.float64)
    cmap = colormaps[cmap_name].with_extremes(bad="lightgrey")
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=0, vmax=100, aspect="auto")
    for (r, c), value in np.ndenumerate(data):
        if math.isnan(value):
            ax.text(c, r, "–", ha="center", va="center", fontsize=7)
            continue
        red, green, blue, _ = cmap(value / 100)
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        ax.text(c, r, f"{value:.0f}", ha="center", va="center", fontsize=7,
                color="white" if dark else "black")
    ax.set_xticks(range(len(col_names)), col_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(row_names)), row_names, fontsize=8)
    ax.axvline(len(col_names) - 1.5, color="black", linewidth=1)  # before the "all" column
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="%", shrink=0.9, pad=0.01)


def plot_pseudo_labels(sets: list[PseudoSet], class_names: list[str], out, *, title: str,
                       kept_meaning: str) -> None:
    """Per set (rows) and class (columns): the share kept, and the precision of the kept labels
    against ground truth where the data has it; the last column is over all classes."""
    sets = sorted(sets, key=lambda s: (s.iteration, s.teacher))
    cols = [*class_names, "all"]
    panels = [("kept: " + kept_meaning, [np.append(s.kept, s.kept_all) for s in sets], "Blues")]
    if all(s.precision is not None for s in sets):
        panels.append(("precision of the kept labels (against ground truth)",
                       [np.append(s.precision, np.nan if s.precision_all is None else s.precision_all)
                        for s in sets], "RdYlGn"))
    width = 3.5 + 0.42 * len(cols)
    height = sum(1.3 + 0.28 * len(sets) for _ in panels) + 0.6
    fig = new_figure(width, height)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (name, rows, cmap) in zip(axes, panels, strict=False):
        _heatmap(fig, ax, rows, [s.name for s in sets], cols, name, cmap)
    fig.suptitle(title, fontsize=11)
    save(fig, out)


# ----------------------------------------------------------------------------- dynamic weights


def plot_weight_histograms(hists: dict[int, dict[str, dict]], out, *, title: str) -> None:
    """One panel per iteration: the share of pseudo-labelled elements per dynamic weight, per model
    (``hists[iteration][model]`` is a training summary's ``dynamic_weights``); the bar left of 0
    counts weights of exactly 0."""
    iterations = sorted(hists)
    cols = min(len(iterations), 3)
    rows = math.ceil(len(iterations) / cols)
    fig = new_figure(2.9 * cols + 0.6, 2.6 * rows + 0.7)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True).ravel()
    for ax, i in zip(axes, iterations, strict=False):
        models = sorted(hists[i])
        width = 1 / len(models)
        for k, m in enumerate(models):
            h = hists[i][m]
            counts = np.array([h["zero"], *h["counts"]], dtype=np.float64)
            share = counts / max(counts.sum(), 1)
            edges = np.array(h["edges"])
            step = edges[1] - edges[0]
            # Slot 0 sits left of the axis' 0 for the exact zeros, then one slot per bin.
            left = np.concatenate([[-1.5 * step], edges[:-1]]) + k * width * step
            style = MODEL_STYLE.get(m, {})
            ax.bar(left, 100 * share, width=width * step, align="edge", color=style.get("color"),
                   label=f"{m}{i}: n = {int(counts.sum()):,}")
        ax.set_title(f"iteration {i}", fontsize=9)
        ax.set_xlim(-1.8 * step, 1.02)
        ax.set_xticks([-step, 0.25, 0.5, 0.75, 1], ["= 0", "0.25", "0.5", "0.75", "1"], fontsize=8)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7, loc="upper center")
        ax.set_xlabel("dynamic weight", fontsize=8)
    for ax in axes[len(iterations):]:
        ax.set_visible(False)
    axes[0].set_ylabel("share of pseudo-labelled elements (%)", fontsize=8)
    fig.suptitle(title, fontsize=11)
    save(fig, out)


# ----------------------------------------------------------------------------- example predictions


def colorize(labels: np.ndarray, palette: list[int], dropped: np.ndarray | None = None) -> np.ndarray:
    """Class ids [H, W] -> RGB through a flat 768-entry palette; ``dropped`` pixels white."""
    table = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    rgb = table[np.asarray(labels, dtype=np.uint8)]
    if dropped is not None:
        rgb[dropped] = DROPPED_RGB
    return rgb


@dataclass
class SegmentationExample:
    image_id: str
    image: np.ndarray  # RGB uint8 [H, W, 3]
    truth: np.ndarray  # class ids, 255 ignored
    pseudo: np.ndarray | None  # the teacher's labels, 255 where below tau (None: no teacher shown)
    confidence: np.ndarray | None  # the teacher's max probability
    predictions: dict[int, np.ndarray]  # iteration -> the model's labels


def plot_segmentation_examples(examples: list[SegmentationExample], class_names: list[str],
                               palette: list[int], out, *, model: str, teacher: str | None,
                               title: str) -> None:
    """Rows: images; columns: image | ground truth | the teacher's pseudo label (dropped pixels
    white) and its confidence (where a teacher is shown) | the model's prediction after each
    iteration."""
    iterations = sorted(examples[0].predictions)
    heads = ["image", "ground truth"]
    if teacher is not None:
        heads += [f"pseudo label\n{teacher}", f"confidence\nof {teacher.split(',')[0]}"]
    heads += [f"{model}{i}" for i in iterations]
    h, w = examples[0].image.shape[:2]
    cell = 9.2 / len(heads)  # inches per panel: the figure stays ~10 inches wide
    fig = new_figure(cell * len(heads) + 0.8, cell * len(examples) * min(h / w, 1.5) + 1.6)
    axes = fig.subplots(len(examples), len(heads), squeeze=False)
    present, heat = set(), None
    for r, ex in enumerate(examples):
        panels = [ex.image, colorize(ex.truth, palette)]
        present |= set(np.unique(ex.truth).tolist())
        if teacher is not None:
            dropped = ex.pseudo == IGNORE_INDEX
            panels += [colorize(ex.pseudo, palette, dropped), ex.confidence]
            present |= set(np.unique(ex.pseudo[~dropped]).tolist())
        for i in iterations:
            panels.append(colorize(ex.predictions[i], palette))
            present |= set(np.unique(ex.predictions[i]).tolist())
        for c, (ax, panel) in enumerate(zip(axes[r], panels, strict=False)):
            if panel.ndim == 2:  # the confidence: a heat map
                heat = ax.imshow(panel, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(heads[c], fontsize=8)
        axes[r][0].set_ylabel(ex.image_id, fontsize=7)
    if heat is not None:
        fig.colorbar(heat, ax=axes[:, 3].tolist(), location="bottom", shrink=0.9, pad=0.02, label="confidence")
    table = np.asarray(palette, dtype=np.float64).reshape(-1, 3) / 255
    handles = [Patch(color=table[c], label=class_names[c]) for c in sorted(present)
               if c < len(class_names)]
    if IGNORE_INDEX in present:
        handles.append(Patch(facecolor=table[IGNORE_INDEX], edgecolor="black", label="ignored (255)"))
    if teacher is not None:
        handles.append(Patch(facecolor=np.array(DROPPED_RGB) / 255, edgecolor="black",
                             label="dropped (confidence < τ of its class)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 7), fontsize=8)
    fig.suptitle(title, fontsize=11)
    save(fig, out)


@dataclass
class ImageChoice:
    image: np.ndarray  # RGB uint8 [H, W, 3]
    label: int  # pseudo label
    confidence: float
    truth: int | None


def plot_classification_examples(rows: dict[int, tuple[list[ImageChoice], list[ImageChoice]]],
                                 class_names: list[str], out, *, title: str) -> None:
    """Per iteration (rows): its pseudo-label set's most confident kept images, then its least
    confident kept ones, titled with label and confidence; wrong labels in red."""
    iterations = sorted(rows)
    k = max(len(top) + len(bottom) for top, bottom in rows.values())
    fig = new_figure(1.1 * k + 1.2, 1.35 * len(iterations) + 0.9)
    axes = fig.subplots(len(iterations), k, squeeze=False)
    for r, i in enumerate(iterations):
        top, bottom = rows[i]
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            choices = top + bottom
            if c >= len(choices):
                ax.set_visible(False)
                continue
            ch = choices[c]
            ax.imshow(ch.image, interpolation="nearest")
            wrong = ch.truth is not None and ch.truth != ch.label
            name = class_names[ch.label]
            ax.set_title(f"{name} {ch.confidence:.2f}" + (f"\n(is {class_names[ch.truth]})" if wrong else ""),
                         fontsize=7, color="red" if wrong else "black")
            if c >= len(top):
                ax.spines[:].set_color(LEAST_CONFIDENT_FRAME)
                ax.spines[:].set_linewidth(2.5)
        axes[r][0].set_ylabel(f"iteration {i}", fontsize=8)
    fig.suptitle(f"{title}\nleft: the most confident kept images; framed: the least confident kept ones",
                 fontsize=10)
    save(fig, out)
