"""Training: trained weights, time-to-accuracy, the batch x learning-rate sweeps, shared initial weights."""
