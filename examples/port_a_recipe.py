"""Port a PyTorch/Keras learning-rate recipe to optaxlr, check it, plot it, save its config.

Run: python examples/port_a_recipe.py [--out recipe.png]

The schedules below reproduce, step for step, what the peer writes into the optimizer
(tests/fixtures/schedules.json holds the peers' own numbers for the same calls).
"""

from __future__ import annotations

import argparse
import json

import optaxlr
import optaxlr.schedules as sch

STEPS_PER_EPOCH = 100
EPOCHS = 90

RECIPES = {
    # torch: SGD(lr=0.1, momentum=0.9) + MultiStepLR(milestones=[30, 60, 80], gamma=0.1),
    # stepped once per epoch -> milestones in steps.
    "ResNet, MultiStepLR per epoch": sch.multistep(
        0.1, [30 * STEPS_PER_EPOCH, 60 * STEPS_PER_EPOCH, 80 * STEPS_PER_EPOCH], gamma=0.1
    ),
    # Goyal et al.: 5 epochs of linear warmup from 0.1 * lr on top of the same decay.
    "+ gradual warmup (Goyal et al.)": sch.warmup(
        sch.multistep(0.1, [30 * STEPS_PER_EPOCH, 60 * STEPS_PER_EPOCH, 80 * STEPS_PER_EPOCH]),
        warmup_steps=5 * STEPS_PER_EPOCH, start_value=0.1, prefix=False,
    ),
    # torch: OneCycleLR(opt, max_lr=0.4, total_steps=9000) with cycle_momentum=True.
    "OneCycleLR": sch.one_cycle(0.4, total_steps=EPOCHS * STEPS_PER_EPOCH),
    # Keras: CosineDecayRestarts(0.1, first_decay_steps=1000, t_mul=2.0, m_mul=0.8, alpha=0.01)
    "Keras CosineDecayRestarts": sch.cosine_restarts(
        0.1, first_cycle_steps=1000, cycle_mult=2.0, cycle_decay=0.8, end_value=0.001
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="recipe.png")
    args = parser.parse_args()

    total = EPOCHS * STEPS_PER_EPOCH
    for name, schedule in RECIPES.items():
        first, last = float(schedule(0)), float(schedule(total - 1))
        print(f"{name:34s} step 0: {first:.3g}   last step: {last:.3g}")
    # The config is plain JSON: store it with the run, rebuild the exact schedule later.
    config = sch.to_config(RECIPES["+ gradual warmup (Goyal et al.)"])
    assert sch.from_config(json.loads(json.dumps(config)))(777) == RECIPES[
        "+ gradual warmup (Goyal et al.)"](777)
    print(json.dumps(config)[:120] + " ...")

    fig = optaxlr.plot_schedule(list(RECIPES.values()), total, labels=list(RECIPES))
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
