"""Any timm image model frame by frame (``timm:<model>``) and a factorised space-time transformer."""
