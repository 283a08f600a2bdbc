"""`make demo`: the whole VoiceFlow workflow, end to end, on this machine (``python -m demo``; see workflow.py)."""
