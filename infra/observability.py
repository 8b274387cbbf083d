"""Logs and alarms: log groups with a retention, alarms on what needs a person
(dead letters, failed packaging runs)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


def log_group(
    scope: Construct, id: str, retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS
) -> logs.LogGroup:
    """Logs are kept for a bounded time and go with the stack."""
    return logs.LogGroup(scope, id, retention=retention, removal_policy=cdk.RemovalPolicy.DESTROY)


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        dead_letter_queues: list[sqs.Queue],
        state_machine: sfn.StateMachine,
    ) -> None:
        super().__init__(scope, id)
        for index, queue in enumerate(dead_letter_queues):
            queue.metric_approximate_number_of_messages_visible(period=cdk.Duration.minutes(5)).create_alarm(
                self,
                f"DeadLetters{index}",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                alarm_description="S3 events that could not be processed are waiting in a dead-letter queue.",
            )
        state_machine.metric_failed(period=cdk.Duration.minutes(5)).create_alarm(
            self,
            "PackagingFailures",
            threshold=5,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            alarm_description="Several downloads failed to package within five minutes.",
        )
