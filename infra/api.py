"""The REST API, generated from the route table (carton.routes)."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from carton.routes import DEPLOYED_ROUTES, GATEWAY_ANSWERS
from infra.nag import acknowledge
from infra.observability import log_group

STAGE = "prod"
AUTHORIZER_CACHE_SECONDS = 60


def _json_template(name: str) -> dict[str, str]:
    return {"application/json": json.dumps(GATEWAY_ANSWERS[name].body())}


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: dict[str, lambda_.Function],
        authorizer_function: lambda_.Function,
    ) -> None:
        super().__init__(scope, id)
        access_logs = log_group(self, "AccessLogs")
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name="carton",
            description="Carton bulk downloads",
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        authorizer = apigw.TokenAuthorizer(
            self,
            "TokenAuthorizer",
            handler=authorizer_function,
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=cdk.Duration.seconds(AUTHORIZER_CACHE_SECONDS),
        )
        for name, answer in GATEWAY_ANSWERS.items():
            if name == "METHOD_NOT_ALLOWED":
                continue  # not a gateway response type: answered by the mock methods below
            self.rest_api.add_gateway_response(
                f"Answer{name.title().replace('_', '')}",
                type=apigw.ResponseType.of(name),
                status_code=str(answer.status),
                templates=_json_template(name),
            )
        method_not_allowed = apigw.MockIntegration(
            request_templates={"application/json": '{"statusCode": 405}'},
            integration_responses=[
                apigw.IntegrationResponse(
                    status_code="405",
                    response_templates=_json_template("METHOD_NOT_ALLOWED"),
                )
            ],
        )
        resources: dict[str, apigw.Resource] = {}
        for route in DEPLOYED_ROUTES:
            for path in route.resource_paths:
                resource = self.rest_api.root.resource_for_path(path)
                resources[path] = resource
                resource.add_method(
                    route.method,
                    apigw.LambdaIntegration(functions[route.function]),
                    authorizer=authorizer if route.authorized else None,
                    authorization_type=(
                        apigw.AuthorizationType.CUSTOM if route.authorized else apigw.AuthorizationType.NONE
                    ),
                )
        for resource in resources.values():
            # Any other method on a known path: 405 in the error body, without running a function.
            resource.add_method(
                "ANY",
                method_not_allowed,
                method_responses=[apigw.MethodResponse(status_code="405")],
            )
        acknowledge(
            self.rest_api.node.find_child("CloudWatchRole"),
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role; AWS maintains this policy for exactly that purpose.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG2",
            "Each function validates its request with pydantic and answers 4xx in Carton's error body.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG4",
            "Only the health check and the mock 405 methods are open; every other route uses the token authorizer.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-COG4",
            "Carton authenticates with its own API keys through a Lambda TOKEN authorizer, not Cognito.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG3",
            "WAF is left to the deploying team (a web ACL can be associated with the stage).",
        )

    @property
    def url(self) -> str:
        return self.rest_api.url
