"""
The production web server: daphne, whose access log escapes and redacts like every other log line.

    python -m voicehub_site.serve --bind 0.0.0.0 --port 8000 voicehub_site.asgi:application

takes daphne's own arguments (the Dockerfile and docker-compose.yml run it). Daphne writes
its access log straight to a stream, not through logging, with the request line as the
client sent it: `?api_key=<key>` whole (the key is refused, but it was logged), and a raw
ESC or other control byte in the path. Here each entry's request goes through
voicehub_site.logs.safe_line first.
"""

from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.server import Server

from voicehub_site.logs import safe_line


class AccessLog(AccessLogGenerator):
    """Daphne's NCSA-style access log, its request ("GET /path?query") escaped and redacted."""

    def write_entry(self, host, date, request, *args, **kwargs):
        super().write_entry(host, date, safe_line(request), *args, **kwargs)


class SafeServer(Server):
    """daphne's Server, with the access log the command line asked for made an AccessLog."""

    def __init__(self, *args, action_logger=None, **kwargs):
        if isinstance(action_logger, AccessLogGenerator) and not isinstance(action_logger, AccessLog):
            action_logger = AccessLog(action_logger.stream)
        super().__init__(*args, action_logger=action_logger, **kwargs)


class SafeCommandLineInterface(CommandLineInterface):
    server_class = SafeServer


if __name__ == "__main__":
    SafeCommandLineInterface.entrypoint()
