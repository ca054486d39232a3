"""The one way into synthesis for every door: the session, limits, history, voices."""
