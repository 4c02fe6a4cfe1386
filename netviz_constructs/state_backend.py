"""Where a stack keeps its Terraform state: one state per stack, chosen in `network.toml`."""

from __future__ import annotations

import os
from typing import Any, Mapping

import jsii
from constructs import Construct

from .cdk import LocalBackend, S3Backend, S3BackendEndpointConfig, TerraformBackend, TerraformRemoteState, TerraformStack

from netviz_config.schema import State


def use_state_backend(
    stack: TerraformStack, stack_name: str, state: State, *, local_directory: str, kubeconfig: str, kube_context: str = ""
) -> None:
    """Give `stack` its own state in the configured backend (local files go into `local_directory`).
    Keys derive from the stack name, so stacks stay separate and a refactor never moves a state."""
    if state.backend == "local":
        # Absolute on purpose: cdktf resolves a relative path from `cdktf.out/stacks/<name>/`, and
        # synth deletes stack folders there, so a relative path would put state where it can be lost.
        LocalBackend(stack, path=os.path.join(os.path.abspath(local_directory), f"{stack_name}.tfstate"))
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
    elif state.backend == "kubernetes":
        k = state.kubernetes
        SettingsBackend(
            stack,
            "kubernetes",
            {
                "secret_suffix": f"{k.secret_suffix_prefix}-{stack_name}",
                "namespace": k.namespace,
                # The cluster the state lives in is the one netviz deploys to.
                "config_path": kubeconfig,
                **({"config_context": kube_context} if kube_context else {}),
            },
        )
    elif state.backend == "pg":
        # No conn_str here: Terraform reads PG_CONN_STR, so the password stays out of the JSON.
        SettingsBackend(stack, "pg", {"schema_name": f"{state.pg.schema_prefix}_{stack_name}"})
    else:  # pragma: no cover - the config loader only admits the backends above
        raise ValueError(f"state.backend: unsupported backend {state.backend!r}")


class _SettingsRemoteState(TerraformRemoteState):
    """`terraform_remote_state` for a backend cdktf has no class for."""

    def __init__(self, scope: Construct, id: str, backend: str):
        jsii.create(TerraformRemoteState, self, [scope, id, backend, {}])


class SettingsBackend(TerraformBackend):
    """A backend given by its Terraform type and settings, for those cdktf 0.21 lacks (kubernetes)
    or whose cdktf class demands a secret (pg's conn_str). Cross-stack references read it back
    through a `terraform_remote_state` with the same settings."""

    def __init__(self, scope: Construct, backend: str, settings: Mapping[str, Any]):
        super().__init__(scope, "backend", backend)
        self._backend = backend
        self._settings = dict(settings)

    @jsii.member(jsii_name="synthesizeAttributes")
    def _synthesize_attributes(self) -> Mapping[str, Any]:
        return dict(self._settings)

    @jsii.member(jsii_name="getRemoteStateDataSource")
    def get_remote_state_data_source(self, scope: Construct, name: str, _from_stack: str) -> TerraformRemoteState:
        remote = _SettingsRemoteState(scope, name, self._backend)
        remote.add_override("config", dict(self._settings))
        return remote
