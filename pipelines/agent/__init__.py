"""The live host agent: this machine's processes as atop's rows, onto Kafka (docs/agent.md)."""
