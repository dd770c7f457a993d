"""Training: the plain PyTorch loop, the Ray Train worker and its driver."""
