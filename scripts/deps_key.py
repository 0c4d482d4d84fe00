"""The key of the shared dependency environment scripts/bootstrap.sh installs, or its requirements.

`python scripts/deps_key.py pyproject.toml` prints `py3.11-<hash>`: a hash of what decides the
environment's content (the project's dependencies and dev extras, the build requirements, the
Python version and the interpreter's path), so a checkout with other pins or another Python gets an
environment of its own. `--requirements` prints the requirement lines to install, one a line.
Standard library only: it runs before any environment exists.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tomllib

#: bumped when the environment's layout changes (what bootstrap.sh puts in it)
LAYOUT = 1


def requirements(project: dict) -> list[str]:
    p = project["project"]
    return [*p.get("dependencies", []), *p.get("optional-dependencies", {}).get("dev", [])]


def key(project: dict) -> str:
    what = {
        "layout": LAYOUT,
        "requirements": requirements(project),
        "build": project.get("build-system", {}).get("requires", []),
        "python": sys.version,
        "interpreter": os.path.realpath(sys.executable),
    }
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    return f"py{sys.version_info[0]}.{sys.version_info[1]}-{digest}"


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1:
        print("usage: deps_key.py [--requirements] pyproject.toml", file=sys.stderr)
        return 2
    with open(args[0], "rb") as fh:
        project = tomllib.load(fh)
    if "--requirements" in argv:
        print("\n".join(requirements(project)))
    else:
        print(key(project))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
