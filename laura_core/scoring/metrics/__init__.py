"""Metrics shared by several tasks. Task-specific metrics live in their task's module."""
