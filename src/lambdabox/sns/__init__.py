"""Amazon SNS: standard topics, subscriptions with filter policies, and durable delivery to SQS
queues and Lambda functions."""
