#!/usr/bin/env python3
"""Django's command-line utility for administrative tasks.

On a fresh machine, `python3 manage.py up` (start) and `python3 manage.py test`
(run the test suite) first create .venv and install requirements.txt (`up`) or
requirements-dev.txt (`test`: the same plus the test tools).
"""
import os
import sys


def main():
    from voicehub_site.bootstrap import maybe_reexec

    maybe_reexec(sys.argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
