"""Board descriptions: load and check boards/<name>.json (data, no hardware access)."""

import json

ROLE_KINDS = ("button", "relay", "led", "mic", "speaker")
REQUIRED_ROLES = ("talk",)
BOARD_KEYS = ("name", "description", "hal", "roles")


class BoardError(Exception):
    """A board file is missing or invalid; the message names the problem."""


def load_board(name, search_dirs):
    """Find <name>.json in search_dirs, parse it and check it."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise BoardError("bad board name %r" % (name,))
    for folder in search_dirs:
        path = folder + "/" + name + ".json"
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        try:
            data = json.loads(text)
        except ValueError as err:
            raise BoardError("board file %s is not valid JSON: %s" % (path, err))
        return check_board(data, path)
    raise BoardError("board file not found: %s.json (looked in %s)" % (name, ", ".join(search_dirs)))


def check_board(data, where):
    """Validate a parsed board description; return it unchanged."""
    if not isinstance(data, dict):
        raise BoardError("%s: top level must be an object" % where)
    for key in data:
        if key not in BOARD_KEYS:
            raise BoardError("%s: unknown key %r" % (where, key))
    roles = data.get("roles")
    if not isinstance(roles, dict):
        raise BoardError("%s: 'roles' must be an object" % where)
    for role in REQUIRED_ROLES:
        if role not in roles:
            raise BoardError("%s: missing role %r" % (where, role))
    for role, spec in roles.items():
        if not isinstance(spec, dict) or spec.get("kind") not in ROLE_KINDS:
            raise BoardError("%s: role %r needs a kind, one of %s" % (where, role, ", ".join(ROLE_KINDS)))
    if not isinstance(data.get("hal"), str):
        raise BoardError("%s: 'hal' must name the HAL module" % where)
    return data


def roles_of_kind(board, kind):
    """Names of the roles of one kind, in file order."""
    return [role for role, spec in board["roles"].items() if spec["kind"] == kind]
