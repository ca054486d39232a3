"""Websocket routes. The streaming studio socket arrives with the studio issue."""

websocket_urlpatterns: list = []
