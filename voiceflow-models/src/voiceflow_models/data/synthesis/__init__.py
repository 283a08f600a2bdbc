"""Source-filter synthetic voices and conversations: the download-free default data."""

from voiceflow_models.data.synthesis.conversation import make_conversation, merge_segments
from voiceflow_models.data.synthesis.synthesizer import Utterance, synthesize_speech
from voiceflow_models.data.synthesis.voices import GENERATOR_VERSION, Voice, make_voice, make_voices

__all__ = [
    "GENERATOR_VERSION",
    "Utterance",
    "Voice",
    "make_conversation",
    "make_voice",
    "make_voices",
    "merge_segments",
    "synthesize_speech",
]
