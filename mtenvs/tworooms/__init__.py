"""TwoRooms: Distral's two-room grid world, as one env and as a batched (NumPy / torch) vector env."""

from __future__ import annotations

from mtenvs.tworooms.dynamics import OBSERVATION_TYPES, TwoRoomsBatch
from mtenvs.tworooms.env import TwoRoomsEnv
from mtenvs.tworooms.layout import ACTION_NAMES, TwoRoomsLayout, build_layout, two_rooms_map
from mtenvs.tworooms.vector import TwoRoomsVectorEnv, make_two_rooms_vec
from mtenvs.wrappers import task_obs_entry_point

__all__ = [
    "ACTION_NAMES",
    "OBSERVATION_TYPES",
    "TwoRoomsBatch",
    "TwoRoomsEnv",
    "TwoRoomsLayout",
    "TwoRoomsVectorEnv",
    "build_layout",
    "make_two_rooms",
    "make_two_rooms_vec",
    "two_rooms_map",
]


make_two_rooms = task_obs_entry_point(TwoRoomsEnv, "make_two_rooms")
