"""Where a stack keeps its Terraform state: one state per stack, chosen in `network.toml`."""

from __future__ import annotations

import os

from cdktf import LocalBackend, S3Backend, S3BackendEndpointConfig, TerraformStack

from netviz_config.schema import State


def local_state_path(state: State, base_dir: str, stack_name: str) -> str:
    """Absolute path of a stack's local state file.

    Absolute on purpose: cdktf resolves a relative path from `cdktf.out/stacks/<name>/`, and synth
    deletes stack folders there, so a relative path would put state where it can be lost."""
    directory = os.path.expanduser(state.local.directory)
    return os.path.join(os.path.normpath(os.path.join(base_dir, directory)), f"{stack_name}.tfstate")


def use_state_backend(stack: TerraformStack, stack_name: str, state: State, base_dir: str) -> None:
    """Give `stack` its own state in the configured backend; keys are derived from the stack name,
    so every stack stays separate and a refactor never moves a state."""
    if state.backend == "local":
        LocalBackend(stack, path=local_state_path(state, base_dir, stack_name))
    elif state.backend == "s3":
        s3 = state.s3
        S3Backend(
            stack,
            bucket=s3.bucket,
            key=f"{s3.key_prefix}/{stack_name}.tfstate",
            region=s3.region,
            endpoints=S3BackendEndpointConfig(s3=s3.endpoint) if s3.endpoint else None,
            use_path_style=s3.use_path_style or None,
        )
    else:  # pragma: no cover - the config loader only admits the backends above
        raise ValueError(f"state.backend: unsupported backend {state.backend!r}")
