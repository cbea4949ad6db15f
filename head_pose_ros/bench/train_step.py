"""Throughput of one training step on this machine: ``python -m head_pose_ros.bench.train_step``.

Times ``--steps`` optimiser steps (forward, the TRG losses, backward, Adam) of the model a
training config builds, on one fixed batch of that config's data mix (so data loading is
measured separately: the time to build one batch in the main process), for each variant:

* threads: ``torch.set_num_threads`` 1 / 2 (intra-op);
* memory format: NCHW (the trainer's) vs channels-last input and weights;
* loss terms: all of them vs without the dense per-iteration terms (shows what they cost).

Prints one table (ms/step, steps/s, ratio to the first row: the trainer as the training scripts
ran it before ``run.channels_last``, ``OMP_NUM_THREADS=2``, NCHW) and writes
JSON with ``--json``. Numbers from one run on a shared machine are noisy (medians of the steps;
compare ratios, and repeat the run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch


def _batch(cfg: Any, topology: Any, n: int) -> dict[str, torch.Tensor]:
    from head_pose_ros.data.factory import MixedDataset, build_dataset

    sets = [build_dataset(s, topology, cfg.data.augment, out_size=cfg.model.input_size,
                          box_scale=cfg.data.box_scale, seed=cfg.run.seed)
            for s in cfg.data.train]
    mixed = MixedDataset(sets, [s.weight for s in cfg.data.train])
    idx = torch.multinomial(mixed.sample_weights(), n, replacement=True,
                            generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    samples = [mixed[int(i)] for i in idx]
    data_s = time.perf_counter() - t0
    batch = torch.utils.data.default_collate(samples)
    batch["_data_s"] = torch.tensor(data_s)
    return batch


def time_steps(model: torch.nn.Module, batch: dict, weights: Any, steps: int,
               channels_last: bool) -> float:
    """Median seconds per optimiser step (after 2 warm-up steps; the median, because a shared
    machine puts spikes into single steps)."""
    from head_pose_ros.losses import trg_loss

    opt = torch.optim.Adam(model.parameters(), lr=1e-6)
    img = batch["image"]
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        img = img.contiguous(memory_format=torch.channels_last)
    model.train()
    ts = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        out = model(img, batch["K_crop"], batch["bbox_info"], batch["box"], batch["K"])
        loss, _ = trg_loss(out, batch, weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 2:
            ts.append(time.perf_counter() - t0)
    return float(sorted(ts)[len(ts) // 2])


def main(argv: list[str] | None = None) -> int:
    import copy
    from dataclasses import replace

    from head_pose_ros.model.trg import build_model
    from head_pose_ros.topology import load_arkit1220
    from head_pose_ros.train.config import load_config, to_object

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", required=True)
    ap.add_argument("overrides", nargs="*", help="key=value config overrides")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    cfg = to_object(load_config(args.config, args.overrides))
    topology = load_arkit1220(cfg.data.topology or None)
    torch.manual_seed(0)
    base = build_model(cfg.model, topology)
    bs = cfg.run.batch_size
    batch = _batch(cfg, topology, bs)
    data_s = float(batch.pop("_data_s"))
    no_dense = replace(cfg.loss, head=0.0, cam=0.0, img=0.0, edge=0.0)
    variants = [("before: 2 threads, NCHW, all losses", 2, False, cfg.loss),
                ("1 thread, NCHW, all losses", 1, False, cfg.loss),
                ("after: 2 threads, channels-last (run.channels_last)", 2, True, cfg.loss),
                ("1 thread, channels-last", 1, True, cfg.loss),
                ("2 threads, NCHW, no dense terms", 2, False, no_dense)]
    rows = []
    for name, threads, cl, w in variants:
        torch.set_num_threads(threads)
        s = time_steps(copy.deepcopy(base), batch, w, args.steps, cl)
        rows.append({"variant": name, "threads": threads, "channels_last": cl,
                     "ms_per_step": 1000 * s, "steps_per_s": 1.0 / s})
    ref = rows[0]["ms_per_step"]
    print(f"batch {bs}, {args.steps} steps each; building one batch (1 process): "
          f"{1000 * data_s:.0f} ms ({1000 * data_s / bs:.1f} ms/sample)")
    print(f"{'variant':52s} {'ms/step':>9s} {'steps/s':>8s} {'ratio':>6s}")
    for r in rows:
        r["ratio_to_trainer"] = ref / r["ms_per_step"]
        print(f"{r['variant']:52s} {r['ms_per_step']:9.0f} {r['steps_per_s']:8.2f} "
              f"{r['ratio_to_trainer']:6.2f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"batch_size": bs, "data_ms_per_batch":
                                               1000 * data_s, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
