"""Carton on AWS: a thin stack composing one construct per concern."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from carton import config
from carton.routes import DEPLOYED_ROUTES, http_functions
from carton.schema import S3_FEEDS
from infra.api import Api
from infra.definition import placeholders
from infra.functions import Functions
from infra.nag import acknowledge
from infra.observability import Observability
from infra.permissions import WORKFLOW_ACTIONS
from infra.storage import Storage
from infra.triggers import Triggers
from infra.workflow import Workflow

AUTHORIZER = "authorizer"


class CartonStack(cdk.Stack):
    def __init__(self, scope: Construct, id: str, **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        archive_expiry_days = int(
            self.node.try_get_context("archive_expiry_days") or config.DEFAULT_ARCHIVE_EXPIRY_DAYS
        )
        deletion_protection = str(self.node.try_get_context("deletion_protection") or "true").lower() == "true"

        storage = Storage(
            self,
            "Storage",
            archive_expiry_days=archive_expiry_days,
            deletion_protection=deletion_protection,
        )
        functions = Functions(
            self,
            "Functions",
            storage=storage,
            archive_expiry_days=archive_expiry_days,
            mail_from=str(self.node.try_get_context("mail_from") or config.DEFAULT_MAIL_FROM),
            public_base_url=self.node.try_get_context("public_base_url"),
        )
        names = [
            AUTHORIZER,
            *http_functions(DEPLOYED_ROUTES),
            *placeholders(),
            *(feed.function for feed in S3_FEEDS),
        ]
        by_name = {name: functions.add(name) for name in names}

        workflow = Workflow(
            self,
            "Workflow",
            functions=by_name,
            pack_concurrency=self.node.try_get_context("pack_concurrency"),
        )
        for name, actions in WORKFLOW_ACTIONS.items():
            workflow.grant(by_name[name], actions)
            by_name[name].add_environment(config.ENV_STATE_MACHINE, workflow.state_machine.state_machine_arn)
        api = Api(self, "Api", functions=by_name, authorizer_function=by_name[AUTHORIZER])
        triggers = Triggers(self, "Triggers", storage=storage, functions=by_name)
        Observability(
            self,
            "Observability",
            dead_letter_queues=triggers.dead_letter_queues,
            state_machine=workflow.state_machine,
        )
        self._acknowledge_library_constructs()
        cdk.CfnOutput(self, "ApiUrl", value=api.url)
        cdk.CfnOutput(self, "ArchivesBucket", value=storage.archives.bucket_name)

    def _acknowledge_library_constructs(self) -> None:
        """Findings on roles that aws-cdk-lib creates itself, each with the reason it stays."""
        for child in self.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(
                    child,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                    "aws-cdk-lib's deploy-time handler that writes bucket notifications; it only needs to log.",
                )
