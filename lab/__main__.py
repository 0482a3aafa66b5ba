"""`python -m lab up|down`: start or stop the lab by hand."""

import sys

from lab import lab


def main(argv: list[str]) -> int:
    if argv[:1] == ["up"]:
        started = lab.up()
        print(f"lab up: image {started.image}, known_hosts {started.known_hosts}")
        return 0
    if argv[:1] == ["down"]:
        lab.down(lab.Lab(state_dir=lab.STATE_DIR, image=lab.build_image()))
        print("lab down")
        return 0
    print("usage: python -m lab up|down", file=sys.stderr)
    return 2


sys.exit(main(sys.argv[1:]))
