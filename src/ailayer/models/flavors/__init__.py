"""Model flavors: how a kind of model file is checked, loaded and run."""

from ailayer.models.flavors.base import Flavor, LoadedModel, Predictions, get_flavor

__all__ = ["Flavor", "LoadedModel", "Predictions", "get_flavor"]
