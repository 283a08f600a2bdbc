"""HTTP routers: health, REST inference, Open Inference Protocol v2, admin and metrics."""
