"""The Lambda service: control plane, invoker, environments, Runtime API."""
