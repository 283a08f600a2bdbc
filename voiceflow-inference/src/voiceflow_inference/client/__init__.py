"""Clients of a running service (HTTP): the service client, the post-deploy smoke test and `voiceflow-inference deploy`.

Nothing here imports the server (app, routers): these modules talk to it over HTTP only.
"""
