"""Where each conformance fact comes from: the public sources read, at the commits read.

Each case in tests/conformance cites one of these with a file and line, so a drift between the plugin and the
reference agent points at the line to re-read. Facts only: nothing of the sources' code or prose is copied.
"""

CHART_5_3_2 = "clearml-helm-charts 747c018, charts/clearml-agent 5.3.2"
CHART_4_0_10 = "clearml-helm-charts 25af4a4^, charts/clearml-agent 4.0.10"
GLUE = "clearml-agent ac65a93, clearml_agent/glue/k8s.py"
DOCS = "clearml-docs df22ffc4"
