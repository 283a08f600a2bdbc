"""ONNX export, graph optimisation and contract validation of trained networks."""
