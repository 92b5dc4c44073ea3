"""Export: ONNX with a dynamic batch, onnxruntime parity, prediction with the exported model."""
