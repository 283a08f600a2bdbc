"""Real corpora: any audio + RTTM corpus (AMI, VoxConverse) and LibriSpeech-simulated conversations."""

from voiceflow_models.data.corpora.librispeech import (
    LibriSpeechSpeakerSource,
    find_utterances,
    simulate_conversation,
)
from voiceflow_models.data.corpora.rttm_corpus import CorpusSpeakerSource, Recording, RttmCorpus, exclusive_regions

__all__ = [
    "CorpusSpeakerSource",
    "LibriSpeechSpeakerSource",
    "Recording",
    "RttmCorpus",
    "exclusive_regions",
    "find_utterances",
    "simulate_conversation",
]
