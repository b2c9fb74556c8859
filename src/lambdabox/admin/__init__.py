"""lambdabox's own HTTP endpoints beyond health and code (`/_lambdabox/<name>`), one module each.

Each module builds an `edge.AdminEndpoint` from the service objects `app.py` hands it; the edge
refuses them to execution environments. They answer JSON and are documented in the README.
"""
