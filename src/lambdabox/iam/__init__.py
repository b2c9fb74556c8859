"""IAM: roles, managed and inline policies, users and access keys; durable, policies stored, not enforced."""
