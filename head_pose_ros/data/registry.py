"""The one dataset registry of training (``head-pose-train``) and evaluation (``head-pose-eval``).

Every dataset type is one :class:`DatasetInfo` in :data:`REGISTRY`: its loader (a spec mapping
-> :class:`~head_pose_ros.data.base.FaceDataset`) and its protocol facts. Training builds its
``data.train`` / ``data.val`` sets through :func:`head_pose_ros.data.factory.build_dataset`
(which refuses evaluation-only types), ``head-pose-eval`` through :func:`load_dataset` with the
same loaders, and scores each with the facts below.

======================  ==========  ======  ==================================  ========  =====
type (eval alias)       Euler conv  metric  protocol boxes (``--boxes``)        K         use
                        for MAE     T                                           guessed
======================  ==========  ======  ==================================  ========  =====
synth_stream            trg         yes     GT 68 lmk from the mesh x 1.5       no        both
synth_npz (synthetic)   trg         yes     GT 68 lmk from the mesh x 1.5       no        both
arkitface               trg         yes     GT 68 lmk from the mesh x 1.5       no        both
w300lp                  trg         yes     its 68 labelled 2D lmk x 1.5        no        both
aflw_crops              trg         no      GT 68 lmk from the mesh x 1.5       no        both
biwi_crops              trg         no      dlib crop mapped to the YuNet crop  no        both
toy                     trg         yes     GT 68 lmk from the mesh x 1.5       no        both
biwi                    trg         yes     none: detector only (default)       no        eval
aflw2000                aflw        no      its 68 labelled 2D lmk x 1.5;       yes       eval
                                            or the detector                     (det.)
======================  ==========  ======  ==================================  ========  =====

- Euler convention: the ``convention`` of :func:`head_pose_ros.metrics.per_sample_errors` for
  the yaw / pitch / roll MAE (``aflw``: AFLW's labels; ``trg``: everything else).
- metric T: whether translation labels are metric (False: a virtual or guessed camera; the
  translation metrics are skipped). For the training types it equals the dataset class's
  ``metric_translation``, which the trainer's validation reads.
- K guessed: with detector boxes, the node's uncalibrated ``geometry.default_intrinsics``.
- eval only: ``biwi`` (whole images through the detector) and ``aflw2000`` are evaluation data;
  training (train and val sets) refuses them. AFLW2000 never trains, calibrates or picks
  constants.
- splits: ``arkitface`` (held out: ``test``), ``aflw_crops`` / ``biwi_crops`` (held out:
  ``val``; ``head-pose-eval --split test`` means it). With ``scoring`` (evaluation),
  ``aflw_crops`` keeps the teacher-fitted crops only (hand-only fits have no rotation); a
  training set keeps them out only for ``split: val``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from head_pose_ros.data.base import FaceDataset
from head_pose_ros.data.crop import AugmentConfig
from head_pose_ros.topology import FaceTopology

GT_MESH_BOXES = "GT 68 landmarks projected from the dense mesh x 1.5"
LABELLED_2D_BOXES = "the dataset's 68 labelled 2D landmarks x 1.5 (protocol)"


@dataclass(frozen=True)
class LoadOptions:
    """What the caller adds to a spec: crop size, crop scale, a base seed (added to the spec's
    ``seed``) and ``scoring`` (built for scoring by ``head-pose-eval``)."""

    out_size: int = 192
    box_scale: float = 1.5
    seed: int = 0
    scoring: bool = False


Loader = Callable[[Any, FaceTopology, "AugmentConfig | None", LoadOptions], FaceDataset]


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset type: its loader and its protocol facts (see the module table)."""

    name: str
    loader: Loader
    convention: str = "trg"
    """Euler convention of the yaw / pitch / roll MAE (``metrics.per_sample_errors``)."""
    metric_translation: bool = True
    protocol_boxes: str = GT_MESH_BOXES
    """Where the protocol crop comes from ("" = none: the detector only)."""
    detector_boxes: bool = False
    """Whether ``head-pose-eval --boxes detector`` (whole images, YuNet) applies."""
    guess_intrinsics: bool = False
    """With detector boxes: no intrinsics in the data, the node's ``default_intrinsics``."""
    eval_only: bool = False
    generated: bool = False
    """Rendered on the fly (``length``, ``seed``; no ``root``)."""
    held_out_split: str = ""
    """The split evaluation uses by default ("" = the type has no splits)."""
    ground_truth: str = ""
    """What the labels are, when that is not plain (stated in the evaluation JSON)."""
    aliases: tuple[str, ...] = ()

    @property
    def default_boxes(self) -> str:
        return "protocol" if self.protocol_boxes else "detector"

    @property
    def box_sources(self) -> tuple[str, ...]:
        return (("protocol",) if self.protocol_boxes else ()) + \
            (("detector",) if self.detector_boxes else ())


def spec_value(spec: Any, key: str, default: Any = None) -> Any:
    """``spec[key]`` of a mapping, else the attribute (a :class:`~.factory.DatasetSpec`)."""
    if isinstance(spec, Mapping):
        return spec.get(key, default)
    return getattr(spec, key, default)


def _size(o: LoadOptions) -> dict[str, Any]:
    return {"out_size": o.out_size, "box_scale": o.box_scale}


def _seed(spec: Any, o: LoadOptions) -> int:
    return int(spec_value(spec, "seed", 0) or 0) + o.seed


def _loss_mask(spec: Any) -> list[float]:
    return list(spec_value(spec, "loss_mask", []) or [])


# ----------------------------------------------------------------------------- loaders
def _synth_stream(spec: Any, topo: FaceTopology, augment: AugmentConfig | None,
                  o: LoadOptions) -> FaceDataset:
    from head_pose_ros.data.synthetic import SynthStreamDataset

    return SynthStreamDataset(str(spec_value(spec, "preset", "wild")), topo, seed=_seed(spec, o),
                              length=int(spec_value(spec, "length", 10000)), augment=augment,
                              overrides=dict(spec_value(spec, "overrides", {}) or {}), **_size(o))


def _toy(spec: Any, topo: FaceTopology, augment: AugmentConfig | None,
         o: LoadOptions) -> FaceDataset:
    from head_pose_ros.data.synthetic import ToyDataset

    return ToyDataset(topo, seed=_seed(spec, o), length=int(spec_value(spec, "length", 1000)),
                      augment=augment, **_size(o))


def _synth_npz(spec: Any, topo: FaceTopology, augment: AugmentConfig | None,
               o: LoadOptions) -> FaceDataset:
    from head_pose_ros.data.synthetic import SynthNpzDataset

    return SynthNpzDataset(spec_value(spec, "root"), topo, augment, seed=_seed(spec, o),
                           **_size(o))


def _arkitface(spec: Any, topo: FaceTopology, augment: AugmentConfig | None,
               o: LoadOptions) -> FaceDataset:
    from head_pose_ros.data.public import ARKitFaceDataset

    return ARKitFaceDataset(spec_value(spec, "root"), topo,
                            split=spec_value(spec, "split", "train"),
                            csv_path=spec_value(spec, "csv") or None, augment=augment,
                            seed=_seed(spec, o), **_size(o))


def _w300lp(spec: Any, topo: FaceTopology, augment: AugmentConfig | None,
            o: LoadOptions) -> FaceDataset:
    from head_pose_ros.data.public import W300LPDataset

    return W300LPDataset(spec_value(spec, "root"), topo, augment=augment, seed=_seed(spec, o),
                         **_size(o))


def _aflw_crops(spec: Any, topo: FaceTopology, augment: AugmentConfig | None,
                o: LoadOptions) -> FaceDataset:
    from head_pose_ros.data.aflw_crops import AFLWCropsDataset

    if not spec_value(spec, "labels"):
        raise ValueError("dataset type 'aflw_crops' needs labels=PSEUDO_LABEL_FILE "
                         "(head-pose-eval: --labels)")
    split = spec_value(spec, "split", "train")
    # scoring is against the teacher fits only (hand-only fits have no rotation)
    kinds = (1,) if o.scoring or split == "val" else (1, 2)
    return AFLWCropsDataset(spec_value(spec, "root"), spec_value(spec, "labels"), topo,
                            split=split, kinds=kinds, augment=augment,
                            loss_mask=_loss_mask(spec), seed=_seed(spec, o), **_size(o))


def _biwi_crops(spec: Any, topo: FaceTopology, augment: AugmentConfig | None,
                o: LoadOptions) -> FaceDataset:
    from head_pose_ros.data.biwi_crops import BIWICropsDataset

    return BIWICropsDataset(spec_value(spec, "root"), topo,
                            split=spec_value(spec, "split", "train"), augment=augment,
                            loss_mask=_loss_mask(spec), seed=_seed(spec, o), **_size(o))


def _biwi(spec: Any, topo: FaceTopology, augment: AugmentConfig | None,
          o: LoadOptions) -> FaceDataset:
    from head_pose_ros.data.public import BIWIDataset

    return BIWIDataset(spec_value(spec, "root"), topo, **_size(o))


def _aflw2000(spec: Any, topo: FaceTopology, augment: AugmentConfig | None,
              o: LoadOptions) -> FaceDataset:
    from head_pose_ros.data.public import AFLW2000Dataset

    return AFLW2000Dataset(spec_value(spec, "root"), topo, **_size(o))


def _biwi_crops_boxes() -> str:
    from head_pose_ros.data.biwi_crops import DLIB_BOX_GEOMETRY

    return f"the dlib crop mapped to the node's YuNet crop ({DLIB_BOX_GEOMETRY})"


_ENTRIES = (
    DatasetInfo("synth_stream", _synth_stream, generated=True),
    DatasetInfo("synth_npz", _synth_npz, aliases=("synthetic",)),
    DatasetInfo("arkitface", _arkitface, held_out_split="test"),
    DatasetInfo("w300lp", _w300lp, protocol_boxes=LABELLED_2D_BOXES),
    DatasetInfo("aflw_crops", _aflw_crops, metric_translation=False, held_out_split="val",
                ground_truth="teacher pseudo-labels (teacher-fitted crops only; rotation and "
                             "2D; the camera is virtual, so no translation)"),
    DatasetInfo("biwi_crops", _biwi_crops, metric_translation=False, held_out_split="val",
                protocol_boxes=_biwi_crops_boxes(),
                ground_truth="BIWI's true rotation labels (no translation: see the README)"),
    DatasetInfo("toy", _toy, generated=True),
    DatasetInfo("biwi", _biwi, protocol_boxes="", detector_boxes=True, eval_only=True),
    DatasetInfo("aflw2000", _aflw2000, convention="aflw", metric_translation=False,
                protocol_boxes=LABELLED_2D_BOXES, detector_boxes=True, guess_intrinsics=True,
                eval_only=True),
)
REGISTRY: dict[str, DatasetInfo] = {e.name: e for e in _ENTRIES}
"""Every dataset type by name (aliases resolve through :func:`lookup`)."""
ALIASES: dict[str, str] = {a: e.name for e in _ENTRIES for a in e.aliases}


def lookup(name: str) -> DatasetInfo:
    """The entry of a type name or alias.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    info = REGISTRY.get(ALIASES.get(name, name))
    if info is None:
        raise ValueError(f"unknown dataset type {name!r}; one of {tuple(REGISTRY)}")
    return info


def trainable(name: str) -> DatasetInfo:
    """The entry of a type a training config may name (its train and val sets).

    Raises:
        ValueError: an unknown type, or an evaluation-only one (evaluation data never trains
            or picks a checkpoint).
    """
    info = REGISTRY.get(ALIASES.get(name, name))
    if info is None:
        raise ValueError(f"unknown dataset type {name!r}; one of {training_types()}")
    if info.eval_only:
        raise ValueError(f"dataset type {name!r} is evaluation data (head-pose-eval only), not "
                         f"for training or validation; one of {training_types()}")
    return info


def training_types() -> tuple[str, ...]:
    """The types a training config may name (train and val sets)."""
    return tuple(n for n, e in REGISTRY.items() if not e.eval_only)


def eval_formats() -> tuple[str, ...]:
    """``head-pose-eval --format`` choices: every type and alias."""
    return tuple(REGISTRY) + tuple(ALIASES)


def detector_formats() -> tuple[str, ...]:
    """The types that ``--boxes detector`` supports."""
    return tuple(n for n, e in REGISTRY.items() if e.detector_boxes)


def load_dataset(spec: Any, topology: FaceTopology, augment: AugmentConfig | None = None,
                 options: LoadOptions | None = None) -> FaceDataset:
    """Build the dataset of ``spec`` (a mapping or a ``DatasetSpec``: ``type`` and its keys),
    evaluation-only types included (training goes through ``factory.build_dataset``)."""
    info = lookup(str(spec_value(spec, "type")))
    if not info.generated and not spec_value(spec, "root"):
        raise ValueError(f"dataset type {info.name!r} needs a root directory (set ...root=PATH)")
    return info.loader(spec, topology, augment, options or LoadOptions())


def single_spec(fmt: str, data: str | Path, *, split: str = "test", labels: str = "",
                length: int = 256, seed: int = 0) -> dict[str, Any]:
    """The spec of one set named by a type and one path (a preset for ``synth_stream``), as
    ``head-pose-eval --format --data`` gives it; ``split`` ``test`` = the held-out split."""
    info = lookup(fmt)
    spec: dict[str, Any] = {"type": info.name, "root": str(data), "preset": str(data),
                            "labels": str(labels)}
    if info.held_out_split:
        spec["split"] = info.held_out_split if split == "test" else split
    if info.generated:
        spec.update(length=length, seed=seed)
    return spec


def describe(spec: Any, ds: FaceDataset, options: LoadOptions) -> dict[str, Any]:
    """What an evaluation states about a set's data (the JSON extras): ``split``, ``labels``,
    ``ground_truth``, ``seed`` (generated types), the protocol drops (AFLW2000)."""
    info = lookup(str(spec_value(spec, "type")))
    ex: dict[str, Any] = {}
    if info.held_out_split:
        ex["split"] = spec_value(spec, "split", "train")
    if spec_value(spec, "labels"):
        ex["labels"] = str(spec_value(spec, "labels"))
    if info.ground_truth:
        ex["ground_truth"] = info.ground_truth
    if info.generated:
        ex["seed"] = int(spec_value(spec, "seed", 0) or 0) + options.seed
    dropped = getattr(ds, "dropped", None)
    if dropped is not None:
        ex["n_dropped_protocol"] = len(dropped)
        ex["dropped_protocol"] = dropped
    return ex


def set_names(specs: list[Any]) -> list[str]:
    """Names of validation sets as the trainer logs them (preset, ``toy``, else the root's
    directory name, else the type; a repeated name gets ``_<index>``)."""
    names: list[str] = []
    for i, s in enumerate(specs):
        kind = spec_value(s, "type")
        root = str(spec_value(s, "root", "") or "")
        name = {"synth_stream": spec_value(s, "preset"), "toy": "toy"}.get(kind) or \
            Path(root).name or kind
        names.append(name if name not in names else f"{name}_{i}")
    return names
