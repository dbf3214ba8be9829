"""Tasks (each owns its head, label encoding, loss and metrics) and loss weighting.

Importing this package registers every built-in task and weighting method.
"""

from sertool.tasks import classification  # noqa: F401  (registers "emotion", "gender")
from sertool.tasks.base import Task, build_task, register_task, task_names
from sertool.tasks.weighting import build_weighting

__all__ = ["Task", "build_task", "build_weighting", "register_task", "task_names"]
