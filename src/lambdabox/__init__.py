"""lambdabox: a self-hosted AWS Lambda platform speaking the AWS wire protocols."""

__version__ = "0.1.0"
