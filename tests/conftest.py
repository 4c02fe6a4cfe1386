"""Shared pytest set-up: the repo on sys.path, the support fixtures, quiet jsii."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

# jsii prints a Node end-of-life banner on every start; cdktf's CLI would call home.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")

from tests.support.fixtures import *  # noqa: E402,F401,F403
