"""Scheduled jobs: periodic pulls with backoff, match-list refresh. Home of APScheduler."""

from node.scheduler.jobs import Backoff, ScheduleSettings, SyncScheduler

__all__ = ["Backoff", "ScheduleSettings", "SyncScheduler"]
