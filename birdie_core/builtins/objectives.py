"""PLACEHOLDER — being written by a helper; replaced before commit."""
from birdie_core.interfaces import Objective, ObjectiveConfig

class NextTokenPrediction(Objective):
    class Config(ObjectiveConfig):
        pass

class PrefixLM(Objective):
    class Config(ObjectiveConfig):
        pass

