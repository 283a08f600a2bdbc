"""Clients of a running service: the streaming client (`VoiceFlowClient`, `voiceflow-inference stream`), the service
client, the post-deploy smoke test and `voiceflow-inference deploy`.

Nothing here imports the server (app, routers): these modules talk to it over HTTP and WebSocket only.

    from voiceflow_inference.client import VoiceFlowClient
    result = VoiceFlowClient("http://127.0.0.1:8000").diarize("meeting.wav")
"""

from voiceflow_inference.client.stream_messages import Result, ServerError, Turn, Window
from voiceflow_inference.client.streaming_client import DiarizationStream, StreamFailedError, VoiceFlowClient

__all__ = ["DiarizationStream", "Result", "ServerError", "StreamFailedError", "Turn", "VoiceFlowClient", "Window"]
