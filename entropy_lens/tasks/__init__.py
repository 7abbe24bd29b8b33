"""Problems to pose: built-in task sets, hub datasets and local files, and the answer checker."""

from entropy_lens.tasks.load import Problem, load_tasks

__all__ = ["Problem", "load_tasks"]
