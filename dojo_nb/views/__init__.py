"""Views of episodes for people.

- `report`: self-contained HTML pages of an episode, and of two side by side.
- `widgets`: ipywidgets to step through an episode in a notebook, or watch one live.
- `run_table`: the rich table printed at the end of a run.
- `lab`: the Jupyter server extension behind the JupyterLab extension's Compare (the pairing).
"""
