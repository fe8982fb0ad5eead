"""Video backbones from torchvision: 3-D ConvNets and video transformers."""
