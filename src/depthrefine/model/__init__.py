"""Model stage: the depth refiner, its losses, training windows, the training loop and
refinement (inference).

- ``DepthRefiner``, ``ModelConfig``: the temporal transformer and its configuration.
- ``total_loss``: the weighted sum of the loss terms.
- ``WindowStream``: shuffled training windows streamed from shards.
- ``train``: train and checkpoint a model (resumes an interrupted run).
- ``load_model``: a trained checkpoint, ready for refinement.
- ``refine_sequence``: the depth-refined copy of a marker sequence, at its own frame rate.
"""

from depthrefine._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "DepthRefiner": "network",
        "ModelConfig": "network",
        "total_loss": "losses",
        "WindowStream": "dataset",
        "train": "train",
        "load_model": "refine",
        "refine_sequence": "refine",
    },
)
