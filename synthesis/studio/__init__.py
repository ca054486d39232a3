"""The signed-in studio: pages, the streaming websocket and its routing."""
