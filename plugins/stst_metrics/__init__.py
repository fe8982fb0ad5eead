"""Weight-free and model-based metrics that compare a generated video with its target."""
