"""The fan-out example's functions: `work` consumes the orders queue, `audit` the orders topic."""

import json


def work(event, context):
    """An SQS batch: each order is processed, except those whose body says "fail", which are
    reported as failed items (ReportBatchItemFailures) so that only they come back."""
    failures = []
    for record in event["Records"]:
        body = record["body"]
        receives = record["attributes"]["ApproximateReceiveCount"]
        if "fail" in body:
            print(f"FAILED {body} (receive {receives})")
            failures.append({"itemIdentifier": record["messageId"]})
        else:
            print(f"PROCESSED {body}")
    return {"batchItemFailures": failures}


def audit(event, context):
    """An SNS notification: the order as published, with its topic."""
    for record in event["Records"]:
        sns = record["Sns"]
        print("AUDIT " + json.dumps({"topic": sns["TopicArn"], "message": sns["Message"]}))
