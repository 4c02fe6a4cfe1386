"""The one place the three stacks are composed and wired: caretta and goflow2 export what the
platform stack needs (scrape targets, the NetFlow NodePort), never the other way round."""

from __future__ import annotations

from dataclasses import dataclass

from netviz_config import NetworkConfig
from netviz_constructs.cdk import App

from .caretta import CarettaStack
from .goflow2 import Goflow2Stack
from .platform import PlatformStack

STACK_NAMES = ("caretta", "goflow2", "platform")


@dataclass(frozen=True)
class NetvizStacks:
    caretta: CarettaStack
    goflow2: Goflow2Stack
    platform: PlatformStack


def build(app: App, config: NetworkConfig, config_toml: str) -> NetvizStacks:
    caretta = CarettaStack(app, "caretta", config)
    goflow2 = Goflow2Stack(app, "goflow2", config, config_toml)
    platform = PlatformStack(app, "platform", config, caretta=caretta.exports, goflow2=goflow2.exports)
    return NetvizStacks(caretta, goflow2, platform)
