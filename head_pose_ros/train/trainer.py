"""The training loop behind ``head-pose-train`` (single process, or DDP under ``torchrun``).

Run directory (``run.out_dir``):
- ``config.yaml``: the merged configuration of the run (written at start, rank 0);
- ``last.safetensors`` (+ ``last_state.pt``): the latest checkpoint, written every
  ``run.ckpt_every`` steps and at every epoch end; ``model.safetensors``: the final weights.
  Weights use the core's :func:`head_pose_ros.checkpoint.save_checkpoint` (safetensors + JSON
  metadata with the config and a training data summary). ``last_state.pt`` holds the optimizer,
  LR scheduler and GradScaler state and the step/epoch counters as plain tensors/numbers
  (``torch.save``), readable with ``torch.load(..., weights_only=True)``;
- ``tb/``: TensorBoard (loss terms, per-iteration terms, lr, throughput, validation metrics,
  sample crops with ground-truth (green) and predicted (red) landmarks).

Resume: when both ``last.*`` files exist and ``run.resume`` is true, training continues at the
saved step (same epoch, same sampler order, skipping the batches already done).
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from head_pose_ros.data.crop import AugmentConfig
from head_pose_ros.data.factory import MixedDataset, WeightedDistributedSampler, build_dataset
from head_pose_ros.data.registry import set_names
from head_pose_ros.train.config import TrainConfig, config_dict, save_config, to_object

LAST_WEIGHTS = "last.safetensors"
LAST_STATE = "last_state.pt"
VAL_HISTORY = "val_history.jsonl"
"""One JSON line per validation: ``{"step", "val": {set: summary + by_yaw}}`` (the curve)."""
FINAL_WEIGHTS = "model.safetensors"


# ----------------------------------------------------------------------------- environment
class DistInfo:
    def __init__(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_device(run_device: str, di: DistInfo) -> torch.device:
    if run_device in ("", "auto"):
        run_device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(run_device)
    if dev.type == "cuda":
        if di.enabled:
            dev = torch.device("cuda", di.local_rank)
        torch.cuda.set_device(dev)
    if di.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return dev


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or amp == "off":
        return None
    if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    if amp in ("fp16", "auto"):
        return torch.float16
    raise ValueError(f"run.amp must be auto, bf16, fp16 or off, got {amp!r}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


# ----------------------------------------------------------------------------- helpers
def to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v)
            for k, v in batch.items()}


def per_iteration_terms(outputs: dict, batch: dict) -> dict[str, float]:
    """Unweighted head/cam/img/rot terms of each regressor iteration (for logging)."""
    from head_pose_ros import losses as hl

    fns = {"head": hl.head_loss, "cam": hl.cam_loss, "rot": hl.rot_loss}
    out: dict[str, float] = {}
    n = len(outputs["R"])
    with torch.no_grad():
        for t in range(n):
            sliced = {k: ([v[t]] if isinstance(v, list) else v) for k, v in outputs.items()}
            for name, fn in fns.items():
                out[f"iter{t + 1}/{name}"] = float(fn(sliced, batch))
            out[f"iter{t + 1}/img"] = float(hl.img_loss(sliced, batch, outputs.get("landmark_ids")))
    return out


def draw_predictions(batch: dict, outputs: dict, n: int = 4) -> np.ndarray:
    """(3, H, W) uint8 grid of crops: GT 68 landmarks green, predicted (mesh) red, heatmap blue."""
    import cv2

    from head_pose_ros.data.crop import denormalise_image

    ids = outputs["landmark_ids"].cpu()
    pred = outputs["vertices_img"][-1].detach().float().cpu()[:, ids]
    heat = outputs["landmarks68"].detach().float().cpu()
    tiles = []
    for i in range(min(n, batch["image"].shape[0])):
        img = np.ascontiguousarray(denormalise_image(batch["image"][i]))
        for pts, col in ((batch["landmarks68_crop"][i].cpu(), (0, 255, 0)), (pred[i], (255, 0, 0)),
                         (heat[i], (0, 0, 255))):
            for x, y in pts.numpy():
                if np.isfinite(x) and np.isfinite(y):
                    cv2.circle(img, (int(round(x)), int(round(y))), 1, col, -1)
        tiles.append(img)
    grid = np.concatenate(tiles, axis=1)
    return grid.transpose(2, 0, 1)


def _save(out_dir: Path, model: torch.nn.Module, opt, sched, scaler, *, epoch: int,
          step_in_epoch: int, step: int, meta: dict, final: bool = False) -> None:
    from head_pose_ros.checkpoint import save_checkpoint

    save_checkpoint(out_dir / (FINAL_WEIGHTS if final else LAST_WEIGHTS), model, meta=meta)
    if final:
        return
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "scaler": scaler.state_dict(), "epoch": epoch, "step_in_epoch": step_in_epoch,
             "step": step}
    tmp = out_dir / (LAST_STATE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, out_dir / LAST_STATE)


# ----------------------------------------------------------------------------- training
def train(cfg_dc: DictConfig) -> dict[str, Any]:
    """Train with the merged config; returns a summary (steps, timings, last validation)."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from head_pose_ros.checkpoint import load_weights_into
    from head_pose_ros.losses import trg_loss
    from head_pose_ros.model.trg import build_model
    from head_pose_ros.topology import load_arkit1220
    from head_pose_ros.train.evaluate import evaluate_dataset

    cfg: TrainConfig = to_object(cfg_dc)
    di = DistInfo()
    device = setup_device(cfg.run.device, di)
    seed_everything(cfg.run.seed + 1000 * di.rank)
    out_dir = Path(cfg.run.out_dir)
    if di.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg_dc, out_dir / "config.yaml")

    topology = load_arkit1220(cfg.data.topology or None)
    model = build_model(cfg.model, topology, cfg.run.backbone_weights or None).to(device)
    if cfg.run.channels_last:
        model = model.to(memory_format=torch.channels_last)
    S = cfg.model.input_size

    def make_sets(specs, augment: AugmentConfig | None):
        return [build_dataset(s, topology, augment, out_size=S, box_scale=cfg.data.box_scale,
                              seed=cfg.run.seed) for s in specs]

    train_sets = make_sets(cfg.data.train, cfg.data.augment)
    mixed = MixedDataset(train_sets, [s.weight for s in cfg.data.train])
    n_epoch = cfg.data.samples_per_epoch or len(mixed)
    sampler = WeightedDistributedSampler(mixed.sample_weights(), n_epoch, rank=di.rank,
                                         world_size=di.world_size, seed=cfg.run.seed)
    bs = cfg.run.batch_size
    drop_last = len(sampler) >= bs
    val_sets = list(zip(set_names(cfg.data.val), make_sets(cfg.data.val, None), strict=True))

    opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    drop_at = max(1, round(cfg.run.epochs * cfg.optim.lr_drop_fraction))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=drop_at, gamma=cfg.optim.lr_gamma)
    adt = amp_dtype(cfg.run.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=adt == torch.float16)

    epoch, start_in_epoch, step = 0, 0, 0
    if cfg.run.resume and (out_dir / LAST_WEIGHTS).is_file() and (out_dir / LAST_STATE).is_file():
        load_weights_into(model, out_dir / LAST_WEIGHTS)
        st = torch.load(out_dir / LAST_STATE, map_location="cpu", weights_only=True)
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        scaler.load_state_dict(st["scaler"])
        epoch, start_in_epoch, step = int(st["epoch"]), int(st["step_in_epoch"]), int(st["step"])
        if di.is_main:
            print(f"resumed from {out_dir / LAST_WEIGHTS} at step {step} (epoch {epoch})")
    elif cfg.run.init_weights:
        load_weights_into(model, cfg.run.init_weights, allow_new_heads=True)

    net: torch.nn.Module = model
    if di.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    writer = SummaryWriter(str(out_dir / "tb")) if di.is_main else None
    data_summary = {"train": mixed.summary(), "samples_per_epoch": n_epoch,
                    "world_size": di.world_size, "batch_size_per_process": bs}
    last_val: dict[str, Any] = {}
    timings = {"data_s": 0.0, "step_s": 0.0, "n_steps": 0}

    def meta() -> dict:
        return {"training": {"config": config_dict(cfg_dc), "data": data_summary, "step": step,
                             "epoch": epoch, "val": last_val}}

    validated_at = -1

    def validate() -> None:
        nonlocal last_val, validated_at
        if not di.is_main or not val_sets or validated_at == step:
            return  # (an epoch that ends on a val_every step is validated once)
        validated_at = step
        for name, ds in val_sets:
            res = evaluate_dataset(model, ds, device=device, batch_size=bs,
                                   workers=min(cfg.run.workers, 2),
                                   max_batches=cfg.run.val_batches,
                                   has_translation=getattr(ds, "metric_translation", True))
            last_val[name] = {k: v for k, v in res.summary.items()
                              if isinstance(v, (int, float)) or v is None}
            last_val[name]["by_yaw"] = {k: v["mae_r"] for k, v in res.summary["by_yaw"].items()}
            for k, v in res.summary.items():
                if isinstance(v, (int, float)) and writer is not None:
                    writer.add_scalar(f"val/{name}/{k}", v, step)
            sm = res.summary
            print(f"[val step {step}] {name}: " + ", ".join(
                f"{k} {sm[k]:.2f}" for k in ("mae_r", "ge", "mae_t", "add", "lmk_mean")
                if sm.get(k) is not None) + f" (deg/mm, n={sm['n']}); by |yaw| " + ", ".join(
                f"{k}: {v['mae_r']:.2f}" for k, v in sm["by_yaw"].items() if v["n"]), flush=True)
        with open(out_dir / VAL_HISTORY, "a") as f:
            f.write(json.dumps({"step": step, "val": last_val}) + "\n")

    done = False
    model.train()
    while epoch < cfg.run.epochs and not done:
        mixed.set_epoch(epoch)
        sampler.set_epoch(epoch)
        loader = DataLoader(mixed, batch_size=bs, sampler=_Skip(sampler, start_in_epoch * bs),
                            num_workers=cfg.run.workers, pin_memory=device.type == "cuda",
                            drop_last=drop_last, worker_init_fn=_worker_init,
                            persistent_workers=False)
        bar = tqdm(loader, desc=f"epoch {epoch}", disable=not (di.is_main and cfg.run.progress),
                   initial=start_in_epoch, total=start_in_epoch + len(loader))
        i_in_epoch = start_in_epoch
        t_data = time.perf_counter()
        interval = {"t": t_data, "wait": 0.0, "n": 0}
        for batch in bar:
            t0 = time.perf_counter()
            batch = to_device(batch, device)
            if cfg.run.channels_last:
                batch["image"] = batch["image"].contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=adt or torch.float32, enabled=adt is not None):
                outputs = net(batch["image"], batch["K_crop"], batch["bbox_info"], batch["box"],
                              batch["K"])
            outputs = {k: ([x.float() for x in v] if isinstance(v, list) else v)
                       for k, v in outputs.items()}
            outputs["landmarks68"] = outputs["landmarks68"].float()
            loss, terms = trg_loss(outputs, batch, cfg.loss)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.optim.grad_clip > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            scaler.step(opt)
            scaler.update()
            step += 1
            i_in_epoch += 1
            wait = t0 - t_data
            timings["data_s"] += wait
            interval["wait"] += wait
            interval["n"] += 1
            if step % max(1, cfg.run.log_every) == 0:
                # the only host-device sync of a step happens here, every log_every steps
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss at step {step}: "
                                             f"{ {k: float(v) for k, v in terms.items()} }")
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                now = time.perf_counter()
                span, n_int = now - interval["t"], interval["n"]
                timings["step_s"] += span - interval["wait"]
                timings["n_steps"] += n_int
                step_s = (span - interval["wait"]) / n_int
                wait_s = interval["wait"] / n_int
                interval.update(t=now, wait=0.0, n=0)
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}", step=step,
                                it_s=f"{n_int / max(span, 1e-9):.2f}")
                if di.is_main and not cfg.run.progress:  # logs and CI: a plain line instead
                    print(f"step {step} epoch {epoch} loss {float(loss.detach()):.4f} "
                          f"lr {opt.param_groups[0]['lr']:.2e} {step_s:.3f} s/step "
                          f"(data wait {wait_s:.3f} s)", flush=True)
            if writer is not None and step % max(1, cfg.run.log_every) == 0:
                writer.add_scalar("loss/total", float(loss.detach()), step)
                for k, v in terms.items():
                    writer.add_scalar(f"loss/{k}", float(v), step)
                for k, v in per_iteration_terms(outputs, batch).items():
                    writer.add_scalar(f"loss_{k}", v, step)
                writer.add_scalar("lr", opt.param_groups[0]["lr"], step)
                writer.add_scalar("time/step_s", step_s, step)
                writer.add_scalar("time/data_wait_s", wait_s, step)
                writer.add_scalar("time/samples_per_s",
                                  bs * di.world_size / max(step_s + wait_s, 1e-9), step)
            if writer is not None and cfg.run.image_every and step % cfg.run.image_every == 0:
                writer.add_image("samples", draw_predictions(batch, outputs), step)
            if cfg.run.ckpt_every and step % cfg.run.ckpt_every == 0 and di.is_main:
                _save(out_dir, model, opt, sched, scaler, epoch=epoch,
                      step_in_epoch=i_in_epoch, step=step, meta=meta())
            if cfg.run.val_every and step % cfg.run.val_every == 0:
                validate()
            if cfg.run.max_steps and step >= cfg.run.max_steps:
                done = True
                break
            t_data = time.perf_counter()
        if not done:
            epoch += 1
            start_in_epoch = 0
            sched.step()
            validate()
        if di.is_main:
            _save(out_dir, model, opt, sched, scaler, epoch=epoch,
                  step_in_epoch=i_in_epoch if done else 0, step=step, meta=meta())
        if di.enabled:
            dist.barrier()
    if done and not cfg.run.val_every:
        validate()
    if di.is_main:
        _save(out_dir, model, opt, sched, scaler, epoch=epoch, step_in_epoch=0, step=step,
              meta=meta(), final=True)
        if writer is not None:
            writer.close()
    if di.enabled:
        dist.barrier()
        dist.destroy_process_group()
    n = max(timings["n_steps"], 1)
    return {"step": step, "epoch": epoch, "out_dir": str(out_dir),
            "mean_step_s": timings["step_s"] / n, "mean_data_wait_s": timings["data_s"] / n,
            "val": last_val}


class _Skip(torch.utils.data.Sampler[int]):
    """Skip the first ``skip`` indices of a sampler (resume inside an epoch)."""

    def __init__(self, inner: WeightedDistributedSampler, skip: int) -> None:
        self.inner, self.skip = inner, int(skip)

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.skip)

    def __iter__(self):
        it = iter(self.inner)
        for _ in range(self.skip):
            next(it, None)
        return it

