"""The rewards plugin's tests: reward functions, the agents, the simulator and its command."""
