"""Generates the schedule gallery (``gallery.md`` and ``gallery/*.png``) at build time.

Run by the mkdocs-gen-files plugin (see ``mkdocs.yml``). Every entry is a call
written as text: the same text is evaluated to draw the plot and shown as the
code above it, so picture and code cannot disagree. The build fails when a
schedule registered in ``optaxlr.schedules`` has no entry of its own, so a new
schedule cannot be added without a picture.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # plotting needs no accelerator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import mkdocs_gen_files
from matplotlib.ticker import MaxNLocator

import optaxlr
import optaxlr.schedules as sch
from optaxlr.schedules._base import REGISTRY

PAGE = "gallery.md"
IMAGE_DIR = "gallery"
LINESTYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class Entry:
    """One picture: one or more ``(label, code)`` curves over ``steps`` steps."""

    slug: str
    title: str
    curves: tuple[tuple[str | None, str], ...]
    text: str
    steps: int = 1000
    log_y: bool = False
    markers: bool = False  # few steps: draw each step's value as a stair with a dot


def one(slug, title, code, text, **kw) -> Entry:
    return Entry(slug, title, ((None, code),), text, **kw)


def many(slug, title, curves, text, **kw) -> Entry:
    return Entry(slug, title, tuple(curves), text, **kw)


SECTIONS: list[tuple[str, list[Entry]]] = [
    ("Constant and piecewise", [
        one("constant", "constant", "sch.constant(0.1)",
            "The same value at every step. A plain number passed where a schedule is "
            "expected (`warmup(1.0, ...)`, an element of `join`) becomes a `constant`."),
        one("piecewise_constant", "piecewise_constant",
            "sch.piecewise_constant([400, 700], [0.1, 0.06, 0.03])",
            "`values[i]` from `boundaries[i-1]` up to `boundaries[i]`: optax "
            "`piecewise_constant_schedule` (with absolute values instead of scales), torch "
            "`ConstantLR`."),
        many("piecewise_constant_conventions", "piecewise_constant: optax vs keras convention", [
            ('convention="optax" (also "torch")',
             "sch.piecewise_constant([5, 10], [0.1, 0.05, 0.02])"),
            ('convention="keras"',
             'sch.piecewise_constant([5, 10], [0.1, 0.05, 0.02], convention="keras")'),
        ], "Keras `PiecewiseConstantDecay` switches one step later: the boundary step "
           "itself still uses the old value.", steps=16, markers=True),
        one("step_decay", "step_decay", "sch.step_decay(0.1, step_size=250, gamma=0.5)",
            "torch `StepLR`: multiply by `gamma` every `step_size` steps."),
        one("multistep", "multistep", "sch.multistep(0.1, milestones=[500, 750], gamma=0.1)",
            "torch `MultiStepLR`: multiply by `gamma` at each milestone (log scale).",
            log_y=True),
    ]),
    ("Monotone decays", [
        one("linear", "linear",
            "sch.linear(0.1, 0.001, transition_steps=700, transition_begin=100)",
            "optax `linear_schedule`, torch `LinearLR`: hold, interpolate, hold."),
        many("exponential", "exponential", [
            ("smooth", "sch.exponential(0.1, decay_rate=0.5, decay_steps=200)"),
            ("staircase=True",
             "sch.exponential(0.1, decay_rate=0.5, decay_steps=200, staircase=True)"),
        ], "torch `ExponentialLR`, Keras `ExponentialDecay`, optax `exponential_decay`: "
           "halves every 200 steps here."),
        one("natural_exp", "natural_exp", "sch.natural_exp(0.1, decay_rate=0.5, decay_steps=100)",
            "TF `natural_exp_decay`: `init * exp(-decay_rate * step / decay_steps)`."),
        one("inverse_time", "inverse_time",
            "sch.inverse_time(0.1, decay_rate=1.0, decay_steps=100)",
            "Keras `InverseTimeDecay`: `init / (1 + decay_rate * step / decay_steps)`."),
        many("polynomial", "polynomial", [
            ("power=0.5", "sch.polynomial(0.1, 0.001, decay_steps=1000, power=0.5)"),
            ("power=1", "sch.polynomial(0.1, 0.001, decay_steps=1000, power=1.0)"),
            ("power=2", "sch.polynomial(0.1, 0.001, decay_steps=1000, power=2.0)"),
        ], "Keras `PolynomialDecay`, torch `PolynomialLR` (with `end_value=0`)."),
        one("polynomial_cycle", "polynomial with cycle=True",
            "sch.polynomial(0.1, 0.001, decay_steps=300, cycle=True)",
            "Keras `PolynomialDecay(cycle=True)`: past `decay_steps`, the decay restarts "
            "over a horizon stretched to the next multiple of `decay_steps`."),
        one("rsqrt", "rsqrt", "sch.rsqrt(0.1, warmup_steps=100)",
            "Constant for `warmup_steps`, then `init * sqrt(warmup_steps / step)`."),
        one("rsqrt_transformer", "rsqrt: the Transformer schedule",
            "sch.warmup(sch.rsqrt(512**-0.5 * 200**-0.5, 200), 200, prefix=False)",
            "Vaswani et al.'s `d**-0.5 * min(step**-0.5, step * W**-1.5)` with `d = 512`, "
            "`W = 200`: a linear warmup factor on top of `rsqrt`."),
    ]),
    ("Cosine decays", [
        one("cosine", "cosine", "sch.cosine(0.1, decay_steps=1000, end_value=0.001)",
            "optax `cosine_decay_schedule`, Keras `CosineDecay`: half a cosine, then held."),
        many("cosine_periodic", "cosine: clamped vs periodic", [
            ("periodic=False (optax, Keras)", "sch.cosine(0.1, decay_steps=250)"),
            ("periodic=True (torch)", "sch.cosine(0.1, decay_steps=250, periodic=True)"),
        ], "torch `CosineAnnealingLR(T_max)` keeps following the cosine past `T_max`: it "
           "climbs back with period `2 * T_max`. `periodic=True` reproduces that."),
        many("linear_cosine", "linear_cosine", [
            ("num_periods=0.5", "sch.linear_cosine(0.1, decay_steps=1000)"),
            ("num_periods=4", "sch.linear_cosine(0.1, decay_steps=1000, num_periods=4.0)"),
        ], "TF `linear_cosine_decay`: a cosine wave under a linearly shrinking envelope."),
        one("cosine_restarts", "cosine_restarts (SGDR)",
            "sch.cosine_restarts(0.1, first_cycle_steps=100, cycle_mult=2.0)",
            "torch `CosineAnnealingWarmRestarts(T_0=100, T_mult=2)`: cycles of 100, 200, "
            "400, 800 steps.", steps=1500),
        many("cosine_restarts_conventions", "cosine_restarts: keras vs timm convention", [
            ('convention="keras"',
             'sch.cosine_restarts(0.1, 250, cycle_decay=0.5, end_value=0.01, '
             'convention="keras")'),
            ('convention="timm"',
             'sch.cosine_restarts(0.1, 250, cycle_decay=0.5, end_value=0.01, '
             'convention="timm")'),
        ], "With `cycle_decay < 1`, Keras `CosineDecayRestarts` (`m_mul`) shrinks the "
           "amplitude above the floor, timm `CosineLRScheduler` (`cycle_decay`) shrinks "
           "the peak itself."),
        many("cosine_restarts_k_decay", "cosine_restarts: k_decay", [
            ("k_decay=1", 'sch.cosine_restarts(0.1, 1000, cycle_limit=1, convention="timm")'),
            ("k_decay=2", 'sch.cosine_restarts(0.1, 1000, cycle_limit=1, convention="timm", '
                          'k_decay=2.0)'),
            ("k_decay=0.5", 'sch.cosine_restarts(0.1, 1000, cycle_limit=1, convention="timm", '
                            'k_decay=0.5)'),
        ], "timm's `k_decay` (Zhang & Li, 2020): the cosine of `(position / length) ** k`; "
           "above 1 the rate stays near the peak longer."),
        many("polynomial_restarts", "polynomial_restarts (timm PolyLRScheduler)", [
            ("power=0.5", "sch.polynomial_restarts(0.1, 400, power=0.5, cycle_decay=0.5)"),
            ("power=2", "sch.polynomial_restarts(0.1, 400, power=2.0, cycle_decay=0.5)"),
        ], "timm `PolyLRScheduler`: `(1 - x ** k_decay) ** power` within each cycle, the "
           "peak scaled by `cycle_decay` at each restart.", steps=1200),
        many("tanh_restarts", "tanh_restarts (timm TanhLRScheduler)", [
            ("lower=-7, upper=3", "sch.tanh_restarts(0.1, 1000, cycle_limit=1)"),
            ("lower=-3, upper=3", "sch.tanh_restarts(0.1, 1000, lower=-3.0, upper=3.0, "
                                  "cycle_limit=1)"),
        ], "Hyperbolic-tangent decay (Hsueh et al., 2019): `(1 - tanh(lower * (1 - r) + "
           "upper * r)) / 2` over the cycle."),
    ]),
    ("Cyclic and one-cycle", [
        one("cyclic_triangular", "cyclic, mode=\"triangular\"",
            "sch.cyclic(0.001, 0.006, step_size_up=100)",
            "torch `CyclicLR`: triangles between `base_value` and `max_value`."),
        one("cyclic_triangular2", "cyclic, mode=\"triangular2\"",
            'sch.cyclic(0.001, 0.006, step_size_up=100, mode="triangular2")',
            "The triangle's height halves every cycle."),
        one("cyclic_exp_range", "cyclic, mode=\"exp_range\"",
            'sch.cyclic(0.001, 0.006, step_size_up=100, mode="exp_range", gamma=0.998)',
            "The triangle's height is scaled by `gamma ** step`."),
        one("one_cycle", "one_cycle", "sch.one_cycle(0.1, total_steps=1000)",
            "torch `OneCycleLR(max_lr=0.1, total_steps=1000)`: from `max_value / 25` up to "
            "`max_value` over 30% of the run, then down to `max_value / 25 / 1e4`."),
        many("one_cycle_conventions", "one_cycle: torch vs fastai convention", [
            ('convention="torch"', "sch.one_cycle(0.1, total_steps=20)"),
            ('convention="fastai"', 'sch.one_cycle(0.1, total_steps=20, convention="fastai")'),
        ], "torch ends the phases at `pct_start * total_steps - 1` and `total_steps - 1`, "
           "fastai's `fit_one_cycle` at `pct_start * total_steps` and `total_steps`: the "
           "same curve, one step apart.", steps=20, markers=True),
        many("one_cycle_three_phase", "one_cycle with three_phase=True", [
            ('anneal="cos"', "sch.one_cycle(0.1, total_steps=1000, three_phase=True)"),
            ('anneal="linear"',
             'sch.one_cycle(0.1, total_steps=1000, three_phase=True, anneal="linear")'),
        ], "torch `OneCycleLR(three_phase=True)`: up, symmetrically back down to the start "
           "value, then the final annealing."),
        many("one_cycle_momentum", "one_cycle_momentum", [
            ("two phases", "sch.one_cycle_momentum(total_steps=1000)"),
            ("three_phase=True", "sch.one_cycle_momentum(total_steps=1000, three_phase=True)"),
        ], "The momentum (or Adam `b1`) torch `OneCycleLR(cycle_momentum=True)` writes: "
           "it moves opposite to the learning rate."),
    ]),
    ("Warmup, WSD and the range test", [
        many("warmup", "warmup: prefix vs factor", [
            ("prefix=True", "sch.warmup(sch.cosine(0.1, 1000), warmup_steps=200)"),
            ("prefix=False",
             "sch.warmup(sch.cosine(0.1, 1000), warmup_steps=200, prefix=False)"),
            ('combine="replace"',
             'sch.warmup(sch.cosine(0.1, 1000), warmup_steps=200, prefix=False, '
             'combine="replace")'),
        ], "`prefix=True` (optax `warmup_*`, timm `warmup_prefix=True`) runs the warmup "
           "first and then the whole cosine; `prefix=False` multiplies the cosine, from its "
           "own step 0, by a factor rising to 1; `combine=\"replace\"` (timm's default) "
           "replaces its first steps by the rise.", steps=1200),
        many("warmup_modes", "warmup modes", [
            ('mode="linear"', 'sch.warmup(0.1, 100, start_value=0.01, mode="linear")'),
            ('mode="cosine"', 'sch.warmup(0.1, 100, start_value=0.01, mode="cosine")'),
            ('mode="constant"', 'sch.warmup(0.1, 100, start_value=0.01, mode="constant")'),
        ], "The shape of the rise; `constant` holds `start_value`, then jumps.", steps=200),
        many("warmup_stable_decay", "warmup_stable_decay (WSD)", [
            ('decay_shape="linear"',
             'sch.warmup_stable_decay(0.1, 1000, warmup_steps=100, decay_steps=300)'),
            ('decay_shape="cosine"',
             'sch.warmup_stable_decay(0.1, 1000, warmup_steps=100, decay_steps=300, '
             'decay_shape="cosine")'),
            ('decay_shape="1-sqrt"',
             'sch.warmup_stable_decay(0.1, 1000, warmup_steps=100, decay_steps=300, '
             'decay_shape="1-sqrt")'),
        ], "Warmup, a long plateau at the peak, and a short final decay in one of three "
           "shapes."),
        many("decay_from", "decay_from: cooldowns branched off a plateau", [
            ("run", "sch.warmup(0.1, 100)"),
            ("branch at 300", 'sch.decay_from(sch.warmup(0.1, 100), 300, 200, "1-sqrt")'),
            ("branch at 600", 'sch.decay_from(sch.warmup(0.1, 100), 600, 200, "1-sqrt")'),
        ], "A WSD cooldown started at any step of the plateau, for example from a "
           "checkpoint restored with `training.resume`."),
        many("lr_range", "lr_range (LR range test)", [
            ('mode="exp"', "sch.lr_range(1e-6, 1.0, num_steps=500)"),
            ('mode="linear"', 'sch.lr_range(1e-6, 1.0, num_steps=500, mode="linear")'),
        ], "The sweep of an LR range test (fastai `lr_find` uses `exp`), on a log scale.",
           steps=500, log_y=True),
    ]),
    ("Combinators", [
        one("join", "join",
            "sch.join([sch.linear(0.01, 0.1, 200), 0.1, sch.cosine(0.1, 400, end_value=0.001)],\n"
            "         boundaries=[200, 600])",
            "optax `join_schedules`, torch `SequentialLR`: each piece restarts at its own "
            "step 0 at its boundary."),
        one("product", "product (T5X-style)",
            "sch.rsqrt(0.01, warmup_steps=100) * sch.warmup(1.0, 100, prefix=False)",
            "`a * b` builds a `product`: here a linear warmup factor times an inverse "
            "square root decay, as T5X composes `constant * linear_warmup * rsqrt_decay`."),
        one("per_epoch", "per_epoch (Keras LearningRateScheduler)",
            "sch.per_epoch(lambda epoch, lr: lr if epoch < 4 else lr * 0.7,\n"
            "              steps_per_epoch=100, num_epochs=10, init_value=0.1)",
            "A Keras `LearningRateScheduler` function `fn(epoch, lr)`, tabulated over 10 "
            "epochs of 100 steps and held constant within each epoch."),
        one("with_noise", "with_noise (timm lr noise)",
            "sch.with_noise(sch.cosine(0.1, 1000), noise_range_t=[200, 800], noise_pct=0.2,\n"
            "               noise_std=0.1)",
            "timm's lr noise: from step 200 to 799 the value is multiplied by `1 + n`, `n` "
            "normal with `noise_std`, truncated to `noise_pct`, drawn from JAX's PRNG by "
            "seed and step."),
    ]),
]


def build(code: str) -> sch.Schedule:
    schedule = eval(code, {"sch": sch})  # the gallery's own literals, nothing else
    if not isinstance(schedule, sch.Schedule):
        raise TypeError(f"gallery entry {code!r} does not build a Schedule")
    return schedule


def render(entry: Entry, schedules: list[sch.Schedule]) -> bytes:
    labels = [label for label, _ in entry.curves]
    fig = optaxlr.plot_schedule(
        schedules,
        entry.steps,
        labels=None if labels == [None] else labels,
        log_y=entry.log_y,
        title=entry.title,
    )
    ax = fig.axes[0]
    for i, line in enumerate(ax.lines):
        line.set_linestyle(LINESTYLES[i % len(LINESTYLES)])
        if entry.markers:
            line.set_drawstyle("steps-post")
            line.set_marker(".")
    if entry.markers:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(ax.lines) > 1:
        ax.legend()  # again, so the legend shows the line styles set above
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def code_block(entry: Entry) -> str:
    lines = []
    for label, code in entry.curves:
        if label is not None:
            lines.append(f"# {label}")
        lines.append(code)
    return "```python\n" + "\n".join(lines) + "\n```"


def main() -> None:
    covered: set[str] = set()
    slugs: set[str] = set()
    page = [
        "# Schedule gallery",
        "",
        "Every schedule in `optaxlr.schedules`, drawn from the code shown above it, with "
        "`import optaxlr.schedules as sch`. The horizontal axis is the step, the number of "
        "updates already applied (the first update uses step 0). Entries that compare "
        "variants draw each variant as its own line; short runs draw each step's value as a "
        "stair with a dot.",
        "",
        "This page is generated at build time by `docs/gen_gallery.py`; the build fails if a "
        "registered schedule has no entry. See the [schedules guide](schedules.md) for the "
        "formulas and the [API reference](api.md) for every argument.",
        "",
    ]
    for section, entries in SECTIONS:
        page += [f"## {section}", ""]
        for entry in entries:
            if entry.slug in slugs:
                raise ValueError(f"duplicate gallery slug {entry.slug!r}")
            slugs.add(entry.slug)
            schedules = [build(code) for _, code in entry.curves]
            covered.update(s.name for s in schedules)
            image = f"{IMAGE_DIR}/{entry.slug}.png"
            with mkdocs_gen_files.open(image, "wb") as f:
                f.write(render(entry, schedules))
            page += [
                f"### {entry.title} {{#{entry.slug}}}",
                "",
                entry.text,
                "",
                code_block(entry),
                "",
                f"![{entry.title}]({image}){{ loading=lazy }}",
                "",
            ]
    missing = sorted(set(REGISTRY) - covered)
    if missing:
        raise RuntimeError(
            "docs/gen_gallery.py: no gallery entry builds these registered schedules: "
            + ", ".join(missing)
            + ". Add an entry for each to SECTIONS."
        )
    with mkdocs_gen_files.open(PAGE, "w") as f:
        f.write("\n".join(page))


main()
