"""What CreateTopic and SetTopicAttributes check of a topic's attributes, in SNS's words: the
FifoTopic flag, the FIFO-only ContentBasedDeduplication and FifoThroughputScope, the JSON of
Policy and DeliveryPolicy, and SignatureVersion."""

from __future__ import annotations

from lambdabox import user_json
from lambdabox.sns.checks import invalid
from lambdabox.sns.models import FIFO_SCOPES


def fifo_flag(value: str | None) -> bool:
    """CreateTopic's FifoTopic attribute: "true" or "false" (any case)."""
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise invalid(f"Attributes Reason: FifoTopic: Invalid value [{value}]. Must be true or false.")


def check_fifo_attribute(name: str, value: str, fifo: bool) -> str:
    """A FIFO topic's ContentBasedDeduplication ("true"/"false") or FifoThroughputScope
    ("Topic"/"MessageGroup"), as stored; a standard topic refuses them."""
    if name == "ContentBasedDeduplication":
        if not fifo:
            raise invalid(
                "ContentBasedDeduplication Reason: Content-based deduplication can only be set for FIFO topics"
            )
        if value.lower() not in ("true", "false"):
            raise invalid(f"ContentBasedDeduplication: Invalid value [{value}]. Must be true or false.")
        return value.lower()
    if not fifo:
        raise invalid("FifoThroughputScope Reason: FifoThroughputScope can only be set for FIFO topics")
    if value not in FIFO_SCOPES:
        raise invalid(
            f"FifoThroughputScope: Invalid value [{value}]. Please use either Topic or MessageGroup"
        )
    return value


def check_topic_attribute(name: str, value: str) -> None:
    """A topic's Policy and DeliveryPolicy are JSON objects (empty: the default); its
    SignatureVersion 1 (SHA1withRSA) or 2 (SHA256withRSA)."""
    if name == "SignatureVersion" and value not in ("1", "2"):
        raise invalid("Attributes Reason: SignatureVersion: must be 1 or 2")
    if name not in ("Policy", "DeliveryPolicy") or not value:
        return
    try:
        decoded = user_json.loads(value)
    except ValueError:
        raise invalid(f"{name}: failed to parse JSON.") from None
    if not isinstance(decoded, dict):
        raise invalid(f"{name}: must be a JSON object.")
