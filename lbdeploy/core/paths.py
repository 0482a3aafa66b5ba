"""Where lbdeploy's own state lives on a node, named once; each component names its own files."""

LOCK_DIR = "/run/lbdeploy.lock"
LOCK_HOLDER = f"{LOCK_DIR}/holder"
STATE_DIR = "/var/lib/lbdeploy"  # root-only: what lbdeploy wrote and still owes
APPLIED = f"{STATE_DIR}/applied"  # sha256 of what lbdeploy last wrote, per path
PENDING = f"{STATE_DIR}/pending"  # one file per service whose reload is owed


def staged(path: str) -> str:
    """Where a new version waits beside its target until it is validated."""
    directory, _, name = path.rpartition("/")
    return f"{directory}/.{name}.lbdeploy-new"
