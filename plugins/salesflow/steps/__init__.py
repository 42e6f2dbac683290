"""The DAG's Python steps, a module each, named as the DAG names its tasks. Every function is keyed
by the run id and the files that run claimed, and is safe to run again."""
