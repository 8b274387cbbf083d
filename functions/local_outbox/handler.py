"""GET /api/v1/_local/outbox — the e-mails the local stack "sent" to the caller's account
(admins) or to the caller (members); local only, never deployed.

SES is moto's here, which keeps sent messages instead of delivering them.
"""

from aws_lambda_powertools.event_handler import Response
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from carton.accounts.service import may_read_mail_to
from carton.store import Store
from carton.web.http import api_handler, api_resolver, principal, route_of
from carton.web.responses import json_response

app = api_resolver()


@app.get(route_of("local_outbox").resolver_path)
def outbox() -> Response[str]:
    caller, store = principal(app), Store()
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    messages = [
        {
            "id": message.id,
            "source": message.source,
            "to": list(message.destinations.get("ToAddresses", [])),
            "subject": message.subject,
            "body": message.body,
        }
        for message in backend.sent_messages
        if may_read_mail_to(caller, list(message.destinations.get("ToAddresses", [])), store)
    ]
    return json_response(200, {"count": len(messages), "next": None, "previous": None, "results": messages})


lambda_handler = api_handler(app)
