"""mtenvs: multi-task Gymnasium environments and baselines from five multi-task RL papers.

``import mtenvs`` registers every id (``gym.make("MultiAtari-v0")``, ``gym.make_vec(...)``) and
exposes the shared multi-task contract.
"""

from mtenvs.core import MultiTaskEnv, grouped_task_ids, one_hot_tasks
from mtenvs.registration import mtenvs_ids, register_all
from mtenvs.vector import MultiTaskVectorBase, MultiTaskVectorEnv
from mtenvs.wrappers import (
    RecordTaskEpisodeStatistics,
    RecordTaskEpisodeStatisticsVector,
    TaskObservation,
    TaskObservationVector,
)

__version__ = "0.1.0"

__all__ = [
    "MultiTaskEnv",
    "MultiTaskVectorBase",
    "MultiTaskVectorEnv",
    "RecordTaskEpisodeStatistics",
    "RecordTaskEpisodeStatisticsVector",
    "TaskObservation",
    "TaskObservationVector",
    "grouped_task_ids",
    "mtenvs_ids",
    "one_hot_tasks",
]

register_all()
