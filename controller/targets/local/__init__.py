"""The ``local`` target: an environment's state in one SQLite file on the controller host."""

from controller.targets.local._target import LocalTarget

__all__ = ["LocalTarget"]
