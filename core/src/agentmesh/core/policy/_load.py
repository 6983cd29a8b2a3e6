"""Reading the policy file, with errors that name the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from agentmesh.core.policy._model import Policy

__all__ = ["PolicyError", "load_policy"]


class PolicyError(ValueError):
    """The policy file is missing, not YAML, or not a valid policy."""


def load_policy(path: Path | str | None) -> Policy:
    """The policy in ``path``; no path means the defaults (budgets unlimited, no review rules)."""
    if path is None:
        return Policy()
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(
            f"policy file {file} does not exist (set AGENTMESH_POLICY to an existing file, "
            "or unset it for the defaults)"
        ) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy file {file} is not valid YAML: {exc}") from None
    if raw is None:
        return Policy()
    if not isinstance(raw, dict):
        raise PolicyError(f"policy file {file} must be a mapping at the top level")
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<top>'}: {e['msg']}" for e in exc.errors()
        )
        raise PolicyError(f"policy file {file} is invalid: {problems}") from None
    keys = [k if k.is_absolute() else file.parent / k for k in policy.reviews.trusted_keys]
    for key in keys:
        _check_key(file, key)
    return policy.model_copy(
        update={"reviews": policy.reviews.model_copy(update={"trusted_keys": keys})}
    )


def _check_key(file: Path, key: Path) -> None:
    from agentmesh.contracts import load_public_key

    try:
        load_public_key(key.read_bytes())
    except OSError as exc:
        raise PolicyError(
            f"policy file {file}: reviews.trusted_keys: cannot read {key} ({exc.strerror}); "
            "save the gateway's public key there (GET /v1/keys: public_key_pem)"
        ) from None
    except ValueError as exc:
        raise PolicyError(
            f"policy file {file}: reviews.trusted_keys: {key} is not a PEM Ed25519 public "
            f"key ({exc})"
        ) from None
