"""The lecture's ConvNets and the explicit table that names them.

`build.MODELS` maps each `raylab.config.ModelName` to its builder and clip shape: Karpathy et
al. 2014's video nets (`fusion`, `multires`), AlexNet, ZF, CNN-M-2048, and torchvision's VGG-16
and GoogLeNet; `layers` holds their small shared pieces. Nothing here reads data or trains.
"""
