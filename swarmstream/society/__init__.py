"""The society driver: runs of a society in rounds, their log, and resuming one (the shell's wing for studies).

``config`` what a run does, ``acts`` each round's requests, ``rounds`` a run's rounds on a running
pipeline, ``run_log`` reading a run back from the runs topic, ``summaries`` the figures of rounds and
runs, ``simulate`` a whole run on the embedded default or any cluster.
"""
