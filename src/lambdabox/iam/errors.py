"""IAM's error answers: NoSuchEntity for each kind of entity, DeleteConflict, size quotas, and the
ValidationError for a request about "the caller" made with credentials that are not a user's."""

from __future__ import annotations

from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.iam.models import limit_exceeded, policy_size


def not_found(message: str) -> ServiceError:
    return client_error("NoSuchEntity", message, 404)


def no_role(name: str) -> ServiceError:
    return not_found(f"The role with name {name} cannot be found.")


def no_user(name: str) -> ServiceError:
    return not_found(f"The user with name {name} cannot be found.")


def no_policy(arn: str) -> ServiceError:
    return not_found(f"Policy {arn} was not found.")


def no_boundary(arn: str) -> ServiceError:
    """A permissions boundary that names no policy the caller can see."""
    return not_found(f"Scope ARN: {arn} does not exist or is not attachable.")


def no_login_profile(name: str) -> ServiceError:
    return not_found(f"Login Profile for User {name} cannot be found.")


def non_user_credentials() -> ServiceError:
    """A request that leaves out UserName (it is about the caller) signed with temporary credentials."""
    return client_error(
        "ValidationError", "Must specify userName when calling with non-User credentials", 400
    )


def no_key(key_id: str) -> ServiceError:
    return not_found(f"The Access Key with id {key_id} cannot be found.")


def conflict(message: str) -> ServiceError:
    return client_error("DeleteConflict", message, 409)


def check_size(document: str, limit: int, message: str) -> None:
    """LimitExceeded with `message` if the document is over `limit` (as IAM counts its size)."""
    if policy_size(document) > limit:
        raise limit_exceeded(message)
