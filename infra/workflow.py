"""The packaging state machine, from the one ASL file (infra/workflow.asl.json)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from carton.storage.schema import ENDED_BADLY, EXECUTION_ENDED_RETRIES, SWEEP_EVERY_MINUTES
from infra.definition import definition_template, placeholders, with_concurrency
from infra.nag import acknowledge
from infra.observability import log_group


class Workflow(Construct):
    def __init__(
        self, scope: Construct, id: str, *, functions: dict[str, lambda_.Function], pack_concurrency: int | None
    ) -> None:
        super().__init__(scope, id)
        # The ASL file's MaxConcurrency is the default; context pack_concurrency overrides it.
        template = definition_template()
        if pack_concurrency is not None:
            template = with_concurrency(template, int(pack_concurrency))
        steps = {name: functions[name] for name in placeholders(template)}
        execution_logs = log_group(self, "Logs")
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_string(template),
            definition_substitutions={name: function.function_arn for name, function in steps.items()},
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=execution_logs,
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"],
                resources=[function.function_arn for function in steps.values()],
            )
        )
        acknowledge(
            self.state_machine.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch Logs delivery and X-Ray do not support resource-level permissions (Resource::*).",
        )

    def watch_endings(self, function: lambda_.Function) -> None:
        """Executions that fail, time out or are stopped reach `function` (EventBridge), which
        fails a download the workflow's own failure step could not."""
        rule = events.Rule(
            self,
            "ExecutionEnded",
            description="Carton: a packaging execution ended badly",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"status": list(ENDED_BADLY), "stateMachineArn": [self.state_machine.state_machine_arn]},
            ),
        )
        rule.add_target(targets.LambdaFunction(function, retry_attempts=EXECUTION_ENDED_RETRIES))

    def sweep_with(self, function: lambda_.Function) -> None:
        """Run the sweeper (carton.downloads.sweeper) on a schedule: downloads that did not end as
        they should are resumed, failed or deleted."""
        rule = events.Rule(
            self,
            "Sweep",
            description="Carton: finish downloads that did not end as they should",
            schedule=events.Schedule.rate(cdk.Duration.minutes(SWEEP_EVERY_MINUTES)),
        )
        rule.add_target(targets.LambdaFunction(function, retry_attempts=2))

    def grant(self, function: lambda_.Function, actions: list[str]) -> None:
        """Start (on the state machine) or stop (on its executions) packaging runs."""
        machine = self.state_machine
        executions = cdk.Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{machine.state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        on_executions = [action for action in actions if action != "states:StartExecution"]
        if "states:StartExecution" in actions:
            function.add_to_role_policy(
                iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine.state_machine_arn])
            )
        if on_executions:
            function.add_to_role_policy(iam.PolicyStatement(actions=on_executions, resources=[executions]))
            acknowledge(
                function.role.node.find_child("DefaultPolicy") if function.role else function,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                f"execution:<{cdk.Stack.of(self).resolve(cdk.Stack.of(self).get_logical_id(machine.node.default_child))}.Name>:*]",  # type: ignore[arg-type]
                "Executions are named after downloads; any of this one state machine's may be stopped.",
            )
