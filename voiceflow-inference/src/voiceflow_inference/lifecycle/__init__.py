"""Model lifecycle: which versions are loaded, which one serves a request, and how they change without downtime.

- ``manager``: :class:`~voiceflow_inference.lifecycle.manager.ModelManager`, the facade the app and routers use.
- ``traffic_policy``: who serves a request (active version, A/B split, pin, sticky keys); pure, no I/O.
- ``version_set``: the loaded versions and their eviction beyond ``keep_versions``; pure, no I/O.
- ``activation``: the explicit policy each trigger passes with a reload (serve / follow / standby).
- ``reloader``: the one code path for every model change (load beside, admit, install, evict), under one lock.
- ``model_sources``: where a model comes from (registry pull, watched file, verified cache), loaded off the loop.
- ``loader``: a model file to a validated, warmed :class:`LoadedModel` (sha256, contract, ONNX Runtime).
- ``startup_fallbacks``: the start-up chain when the registry fails (its offline cache, our cache index, watch dir).
- ``triggers``: the watch-dir and registry-poll loops.
- ``verified_cache``, ``watch_files``, ``atomic_files``: the local stores the loader trusts.
- ``errors``, ``reasons``: the exceptions and the explicit metric/refusal reason labels.
"""
