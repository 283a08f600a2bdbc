"""`make scale-demo`: several inference replicas behind HAProxy, one S3 registry, rollouts under mixed load."""
