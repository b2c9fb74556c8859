"""Amazon SQS: durable standard queues (create, send, receive, visibility, delete) and the target of Lambda's destinations."""
