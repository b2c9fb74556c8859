"""lambdabox's own runtime clients, the programs that run inside execution environments.

Each speaks the Lambda Runtime API (2018-06-01) to lambdabox on behalf of one language:
`bootstrap_python.py` (standard library only; it loads its siblings `_lambdabox_rt_http.py`, the
Runtime API client, and `_lambdabox_rt_shapes.py`, the context object and error shapes, by file
path so user code can neither import nor shadow them) and `bootstrap_node.js` (with
`_lambdabox_rt_node_resolve.mjs`, the resolve hook that gives ES modules NODE_PATH). They are data
files as far as the server is concerned: started as processes, never imported by lambdabox itself.
"""
