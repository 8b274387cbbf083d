"""API Gateway TOKEN authorizer: `Authorization` key → principal in the request context."""

from typing import Any

from carton.accounts.keys import authenticate, authorizer_policy
from carton.shared.errors import Unauthorized
from carton.shared.observability import entrypoint, logger
from carton.store import Store


def authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        principal = authenticate(event.get("authorizationToken"), Store())
    except Unauthorized as error:
        logger.info("rejected key", extra={"reason": error.message})
        # API Gateway answers 401 only for this exact message.
        raise Exception("Unauthorized") from error
    return authorizer_policy(principal, event["methodArn"])


lambda_handler = entrypoint(authorize)
