"""timm's pretrained weights as toolkit weights files: on the Hugging Face hub, verified by the hub's sha256.

timm names the weights of a model in its ``pretrained_cfg``: a hub repository
(``hf_hub_id``, e.g. ``timm/resnet50.a1_in1k``) and a file in it
(``model.safetensors`` unless ``hf_hub_filename`` says otherwise). The
toolkit downloads that file itself, into its own cache, so that the cache
folder, offline mode and ``HF_ENDPOINT`` work as for every other backbone; its
digest is not known in advance, so the download is checked against the sha256
the hub publishes for it (``X-Linked-Etag``).
"""

from __future__ import annotations

import timm.models

from stst_core import WeightsError, WeightsFile

HUB_LICENCE = "see the model card on the Hugging Face hub"


def pretrained_cfg(model_name: str):
    """timm's pretrained configuration of ``model_name`` (``"resnet50"`` or ``"resnet50.a1_in1k"``), or None."""
    return timm.models.get_pretrained_cfg(model_name, allow_unregistered=False)


def hub_weights_file(model_name: str) -> WeightsFile:
    """The weights file timm would load for ``model_name``, as a :class:`~stst_core.WeightsFile`.

    Raises
    ------
    WeightsError
        When timm knows no pretrained weights for the model, or knows them only
        at a URL outside the hub (download those yourself and pass the path).
    """
    cfg = pretrained_cfg(model_name)
    if cfg is None:
        raise WeightsError(f"timm has no pretrained weights for {model_name!r}; use weights='random' or a path to a weights file")
    if not cfg.hf_hub_id:
        where = f" (timm lists {cfg.url})" if cfg.url else ""
        raise WeightsError(
            f"timm's weights for {model_name!r} are not on the Hugging Face hub{where}; download them yourself and pass the file's path as weights"
        )
    filename = cfg.hf_hub_filename or "model.safetensors"
    return WeightsFile(
        name=f"timm:{model_name}.pretrained",
        filename=f"{cfg.hf_hub_id.replace('/', '--')}--{filename}",
        urls=(f"{{hf_endpoint}}/{cfg.hf_hub_id}/resolve/main/{filename}",),
        sha256=None,
        licence=cfg.license or HUB_LICENCE,
    )
