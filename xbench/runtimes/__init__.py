"""Inference runtimes for exported ONNX models (one module per runtime)."""
