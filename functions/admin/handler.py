"""The operators' function (`make account`): not on API Gateway, invoked with IAM only.

Event: {"action": "create_account", "account": "<name>", "email": "<first admin>"}.
Answers {"status": 201, "account", "user", "token_id", "token"} (the key is shown this
once) or {"status": 4xx, "message", "errors"} — the one error body, never a stack trace.
"""

from typing import Any

from pydantic import ValidationError

from carton.accounts.api import CreateAccountRequest
from carton.accounts.keys import create_account
from carton.shared.errors import CartonError
from carton.shared.observability import entrypoint, logger
from carton.store import Store
from carton.web.http import validation_errors

ACTIONS = ("create_account",)


def handle(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or event.get("action") not in ACTIONS:
        return {"status": 400, "message": "Unknown action", "errors": {"action": [f"one of: {', '.join(ACTIONS)}"]}}
    try:
        request = CreateAccountRequest.model_validate({k: v for k, v in event.items() if k != "action"})
        admin, record, secret = create_account(Store(), request.account, request.email)
    except ValidationError as invalid:
        return {"status": 422, "message": "Validation failed", "errors": validation_errors(invalid.errors())}
    except CartonError as error:
        return {"status": int(error.status), "message": error.message, "errors": error.errors}
    except Exception:  # the operator gets the one error body; the details go to the logs
        logger.exception("create_account failed")
        return {
            "status": 500,
            "message": "Internal error: nothing was created; see the admin function's logs",
            "errors": {},
        }
    return {
        "status": 201,
        "account": admin.account_id,
        "user": {"id": admin.user_id, "email": admin.email, "role": admin.role.value},
        "token_id": record.token_id,
        "token": secret,
    }


lambda_handler = entrypoint(handle)
