"""Board roles at run time: which named inputs/outputs a loaded board description has (data only)."""

# Kept apart from board.py, whose validation tables are only needed at boot:
# main.py drops board.py (and config.py) from memory once the phone runs.


def roles_of_kind(board, kind):
    """Names of the roles of one kind, in file order."""
    return [role for role, spec in board["roles"].items() if spec["kind"] == kind]
