"""The Spark floor that the detector and training both stand on: the session and its JVM,
cluster helpers, model loading and scoring, and the Spark side of cleaning.

Nothing here knows the detector's queries or training's pipelines; both import from here,
never from each other (docs/architecture.md).
"""
