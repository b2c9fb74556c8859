"""API Gateway: control planes, and the data plane that turns HTTP requests into Lambda events."""
