"""raylab: the lecture's image and video ConvNets, trained at cluster scale on Ray."""

__version__ = "0.1.0"
