"""Ansible's linear strategy run through Mitogen (the mitogen package, requirements-release.txt):
each module runs in a Python interpreter that stays up for the whole run, instead of a new one
per task that imports boto3 again. The release's hundreds of AWS tasks take about half the time
(measured in the closing note of the "Fast evidence" issue); what runs and in which order is
Ansible's own linear strategy. ansible.cfg selects it; ANSIBLE_STRATEGY=linear runs without it."""

from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule  # noqa: F401
