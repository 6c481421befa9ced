"""PLACEHOLDER — being written by a helper; replaced before commit."""
from birdie_core.interfaces import Agent, AgentConfig

class StaticAgent(Agent):
    class Config(AgentConfig):
        pass

