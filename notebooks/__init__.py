"""Release validation: parameterised notebooks executed with papermill against a running service.

``python -m notebooks.validate --help`` runs them all and writes the reports; each notebook can
also be opened in Jupyter and run top to bottom on its own.
"""
