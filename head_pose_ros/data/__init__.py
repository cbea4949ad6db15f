"""Datasets for training and evaluation; every one yields the same sample dict.

- :mod:`.crop`: the one crop + label-exact augmentation path (sample dict contract).
- :mod:`.flip`: left/right vertex permutation of a topology (horizontal flip).
- :mod:`.base`: :class:`~.base.FaceDataset` (index-based, worker-safe randomness).
- :mod:`.synthetic`: ``labels.npz`` sets, the on-the-fly engine, toy faces.
- :mod:`.public`: ARKitFace, 300W-LP, BIWI, AFLW2000-3D in their distributed formats.
- :mod:`.registry`: every dataset type once: its loader and protocol facts (training and
  ``head-pose-eval`` both use it).
- :mod:`.factory`: datasets from config entries (through the registry), weighted mixing, DDP
  sampler.
- :mod:`.cache`: render synthetic sets to disk once (crop mode).
"""
