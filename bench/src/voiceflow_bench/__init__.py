"""VoiceFlow's repository-level benchmark package: the performance suite (``make bench``) and the serving benchmarks it
runs against a real server. It is the one package that depends on both sides (contract, models and inference), so
neither side has to import the other."""
