"""Tasks (each owns its head, label encoding, loss and metrics) and loss weighting.

Importing this package registers every built-in task type (``emotion``, ``gender``, ``speaker``,
``style``, ``intensity``, ``ctc``, ``reconstruction``) and weighting method (``fixed``,
``schedule``, ``uncertainty``, ``dwa``, ``gradnorm``).
"""

from sertool.tasks import classification, ctc, reconstruction, regression  # noqa: F401  (register the tasks)
from sertool.tasks.base import TASKS, Task, build_task, register_task, task_class
from sertool.tasks.weighting import WEIGHTINGS, Weighting, build_weighting

__all__ = ["TASKS", "WEIGHTINGS", "Task", "Weighting", "build_task", "build_weighting", "register_task", "task_class"]
