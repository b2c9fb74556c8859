"""CloudWatch metrics: Lambda's AWS/Lambda metrics recorded per minute, custom metrics put through
PutMetricData, served through the CloudWatch API (`api.py`) and as Prometheus text (`prometheus.py`)."""
