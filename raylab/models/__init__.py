"""Video classifiers from Karpathy et al. (CVPR 2014) and the explicit table that names them.

`build.MODELS` maps each `raylab.config.ModelName` to its builder and clip shape; `fusion` holds
the networks and `layers` their small shared pieces. Nothing here reads data or trains.
"""
