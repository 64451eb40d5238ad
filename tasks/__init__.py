"""Built-in task plugins (installed as ``laura_tasks``): one module per task, each registered
through the ``laura`` entry-point group like any third-party task."""
