"""Reward functions and agents for Birdie's curriculum: the paper's reward-model agent, EXP3, and a simulator."""

__version__ = "0.1.0"
