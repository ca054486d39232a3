"""
One process of the ledger race: `threads` threads each try to reserve
`characters` at the same instant. Prints "ready" once every thread is loaded,
starts when it reads a line on stdin, then prints how many succeeded.

    python -m accounts.tests.race_worker --org ID --threads 10 --characters 10 [--naive]

DATABASE_URL (set by the test) points it at the test database.
"""

import argparse
import json
import os
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--org", type=int, required=True)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--characters", type=int, default=10)
    parser.add_argument("--naive", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")
    import django

    django.setup()
    from accounts.tests.helpers import race

    def ready():
        print("ready", flush=True)
        sys.stdin.readline()  # the test writes "go" once every process is ready

    print(json.dumps({"successes": race(args.org, args.threads, args.characters, on_ready=ready, naive=args.naive)}))


if __name__ == "__main__":
    main()
