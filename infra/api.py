"""The REST API, generated from the route table (carton.web.routes)."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from carton.web.routes import (
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE_SECONDS,
    DEPLOYED_ROUTES,
    GATEWAY_ANSWERS,
    Route,
    methods_of,
)
from infra.nag import acknowledge
from infra.observability import log_group

STAGE = "prod"
# One JSON line per request: who, what, how it ended, and where the time went (latency is
# the whole request, integration latency the function's part).
ACCESS_LOG_FIELDS = {
    "requestId": apigw.AccessLogField.context_request_id(),
    "ip": apigw.AccessLogField.context_identity_source_ip(),
    "user": apigw.AccessLogField.context_authorizer_principal_id(),
    "requestTime": apigw.AccessLogField.context_request_time(),
    "httpMethod": apigw.AccessLogField.context_http_method(),
    "resourcePath": apigw.AccessLogField.context_resource_path(),
    "protocol": apigw.AccessLogField.context_protocol(),
    "status": apigw.AccessLogField.context_status(),
    "responseLength": apigw.AccessLogField.context_response_length(),
    "responseLatency": apigw.AccessLogField.context_response_latency(),
    "integrationLatency": apigw.AccessLogField.context_integration_latency(),
    "error": apigw.AccessLogField.context_error_message(),
}
AUTHORIZER_CACHE_SECONDS = 60
# With CORS on, the catch-all gateway responses carry the headers too, in the one error body.
CORS_DEFAULT_ANSWERS = ("DEFAULT_4XX", "DEFAULT_5XX")
_DEFAULT_TEMPLATE = {"application/json": '{"message": $context.error.messageString, "errors": {}}'}


def _json_template(name: str) -> dict[str, str]:
    return {"application/json": json.dumps(GATEWAY_ANSWERS[name].body())}


def gateway_cors_headers(origins: tuple[str, ...]) -> dict[str, str]:
    """CORS headers for the answers API Gateway gives itself (401, 403, 404, 413, 4XX, 5XX).

    A gateway response cannot decide per request: each header is a static value or a copy
    of a request value, and its body template is not run through VTL, so "echo the Origin
    only when it is one of ours" cannot be said there (the preflight and the 405 mock are
    integration responses, which can, and do). With one origin the header names it. With
    several it echoes the request's Origin, with Vary: Origin. That is safe: what another
    site's page could then read is a fixed error body without account data; Carton never
    sends Access-Control-Allow-Credentials (keys travel in the Authorization header, not in
    cookies); and such a page cannot send an Authorization header at all, because the
    preflight refuses its origin. Naming only the first origin would hide these errors
    from the other origins' pages, and no header would hide them from every browser client.
    """
    if not origins:
        return {}
    allow = f"'{origins[0]}'" if len(origins) == 1 else "method.request.header.Origin"
    return {"Access-Control-Allow-Origin": allow, "Vary": "'Origin'"}


def _origin_override(origins: tuple[str, ...]) -> str:
    """VTL for a mock integration response: the request's Origin when it is one of ours
    (integration responses, unlike gateway responses, do run VTL; as CDK's own preflight)."""
    if len(origins) < 2:
        return ""
    condition = " || ".join(f'$origin == "{origin}"' for origin in origins[1:])
    return (
        '#set($origin = $input.params().header.get("Origin"))\n'
        '#if($origin == "")\n#set($origin = $input.params().header.get("origin"))\n#end\n'
        f"#if({condition})\n"
        "#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)\n"
        "#end\n"
    )


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: dict[str, lambda_.Function],
        authorizer_function: lambda_.Function,
        cors_origins: tuple[str, ...] = (),
        routes: tuple[Route, ...] = DEPLOYED_ROUTES,
        name: str = "carton",
        throttling: tuple[int, int] | None = None,
        waf_rate_limit: int | None = None,
    ) -> None:
        """`name`: the API's (its metrics' ApiName); `throttling`: the stage's (rate per
        second, burst); `waf_rate_limit`: with it, a WAF web ACL allowing that many requests
        per client address in five minutes."""
        super().__init__(scope, id)
        access_logs = log_group(self, "AccessLogs")
        rate, burst = throttling or (None, None)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=name,
            description="Carton bulk downloads",
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                throttling_rate_limit=rate,
                throttling_burst_limit=burst,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
            ),
        )
        authorizer = apigw.TokenAuthorizer(
            self,
            "TokenAuthorizer",
            handler=authorizer_function,
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=cdk.Duration.seconds(AUTHORIZER_CACHE_SECONDS),
        )
        cors_headers = gateway_cors_headers(cors_origins)
        for name, answer in GATEWAY_ANSWERS.items():
            if name == "METHOD_NOT_ALLOWED":
                continue  # not a gateway response type: answered by the mock methods below
            self.rest_api.add_gateway_response(
                f"Answer{name.title().replace('_', '')}",
                type=apigw.ResponseType.of(name),
                status_code=str(answer.status),
                templates=_json_template(name),
                response_headers=cors_headers or None,
            )
        if cors_headers:
            for name in CORS_DEFAULT_ANSWERS:
                self.rest_api.add_gateway_response(
                    f"Answer{name.title().replace('_', '')}",
                    type=apigw.ResponseType.of(name),
                    templates=_DEFAULT_TEMPLATE,
                    response_headers=cors_headers,
                )
        # Method responses carry the CORS headers the mock sets (static first origin, Vary).
        mock_headers = {f"method.response.header.{header}": value for header, value in cors_headers.items()}
        if len(cors_origins) > 1:
            mock_headers["method.response.header.Access-Control-Allow-Origin"] = f"'{cors_origins[0]}'"

        def method_not_allowed(allowed: tuple[str, ...]) -> apigw.MockIntegration:
            """405 in the error body with `Allow`, answered by API Gateway without a function."""
            listed = ", ".join([*allowed, *(["OPTIONS"] if cors_origins else [])])
            return apigw.MockIntegration(
                request_templates={"application/json": '{"statusCode": 405}'},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="405",
                        response_parameters={**mock_headers, "method.response.header.Allow": f"'{listed}'"},
                        response_templates={
                            content_type: _origin_override(cors_origins) + body
                            for content_type, body in _json_template("METHOD_NOT_ALLOWED").items()
                        },
                    )
                ],
            )

        # One permission per function for the whole API (not one per method and path):
        # a function serving several routes and suffixes would otherwise add a dozen.
        integrations = {
            name: apigw.LambdaIntegration(functions[name], scope_permission_to_method=False)
            for name in dict.fromkeys(route.function for route in routes)
        }
        methods: dict[str, list[str]] = {}
        for route in routes:
            for path in route.resource_paths:
                methods.setdefault(path, []).append(route.method)
                self.rest_api.root.resource_for_path(path).add_method(
                    route.method,
                    integrations[route.function],
                    authorizer=authorizer if route.authorized else None,
                    authorization_type=(
                        apigw.AuthorizationType.CUSTOM if route.authorized else apigw.AuthorizationType.NONE
                    ),
                )
        for path, allowed in methods.items():
            resource = self.rest_api.root.resource_for_path(path)
            # Any other method on a known path: 405 in the error body, without running a function.
            resource.add_method(
                "ANY",
                method_not_allowed(methods_of(path, routes)),
                method_responses=[
                    apigw.MethodResponse(
                        status_code="405",
                        response_parameters={
                            header: True for header in [*mock_headers, "method.response.header.Allow"]
                        },
                    )
                ],
            )
            if cors_origins:
                # The preflight, answered by API Gateway itself (a mock), for the configured origins.
                resource.add_cors_preflight(
                    allow_origins=list(cors_origins),
                    allow_headers=list(CORS_ALLOW_HEADERS),
                    allow_methods=allowed,
                    expose_headers=list(CORS_EXPOSE_HEADERS),
                    max_age=cdk.Duration.seconds(CORS_MAX_AGE_SECONDS),
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
            "Only the health check, the OpenAPI document, the mock 405 methods and the CORS preflights (OPTIONS) "
            "are open; every other route uses the token authorizer.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-COG4",
            "Carton authenticates with its own API keys through a Lambda TOKEN authorizer, not Cognito.",
        )
        if waf_rate_limit is not None:
            self._firewall(waf_rate_limit)
        else:
            acknowledge(
                self.rest_api,
                "AwsSolutions-APIG3",
                "WAF is optional (context waf=on): it costs per web ACL and rule, and the stage is throttled.",
            )

    def _firewall(self, rate_limit: int) -> None:
        """AWS's common rule set (its body-size rule only counts: Carton takes bodies up to
        6 MB, answers 413 beyond, and a 10,000-id download request is over WAF's 8 KB) and a
        per-address rate limit, on the stage."""
        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name="common",
                priority=0,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name="AWSManagedRulesCommonRuleSet",
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name="SizeRestrictions_BODY",
                                action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}),
                            )
                        ],
                    )
                ),
                visibility_config=_waf_visibility("common"),
            ),
            wafv2.CfnWebACL.RuleProperty(
                name="rate",
                priority=1,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=rate_limit, aggregate_key_type="IP"
                    )
                ),
                visibility_config=_waf_visibility("rate"),
            ),
        ]
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            scope="REGIONAL",
            rules=rules,
            visibility_config=_waf_visibility("carton"),
        )
        wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=self.rest_api.deployment_stage.stage_arn, web_acl_arn=acl.attr_arn
        )

    @property
    def url(self) -> str:
        return self.rest_api.url


def _waf_visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=f"carton-{name}", sampled_requests_enabled=True
    )
