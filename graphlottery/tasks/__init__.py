"""Tasks: what a model is trained on and how it is scored."""
from graphlottery.tasks.node import NodeClassification

__all__ = ["NodeClassification"]
