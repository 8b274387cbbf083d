"""Logs, alarms and the dashboard: log groups with a retention; an alarm on everything that
needs a person, each acting on one SNS topic (e-mailed to `alarm_email` when given); one
dashboard of what the service does. README "Operate" says what each alarm means."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from carton.shared.observability import SERVICE
from infra.nag import acknowledge

FIVE_MINUTES = cdk.Duration.minutes(5)
_AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
# Errors or throttles of one function in five minutes that need a look.
FUNCTION_FAULTS = 5
# The pack workers' reservation full means downloads wait their turn (the workflow retries
# a throttled worker): only a long queue of them is worth a page.
PACK_THROTTLES_PER_FAULT = 10
API_5XX_PERCENT = 1
API_P90_MILLISECONDS = 3000
FEED_MESSAGE_AGE_SECONDS = 1800


def log_group(
    scope: Construct, id: str, retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS
) -> logs.LogGroup:
    """Logs are kept for a bounded time and go with the stack."""
    return logs.LogGroup(scope, id, retention=retention, removal_policy=cdk.RemovalPolicy.DESTROY)


def carton_metric(namespace: str, name: str, statistic: str = "Sum", **dimensions: str) -> cloudwatch.Metric:
    """A metric the functions publish (carton.shared.observability.measure)."""
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map={"service": SERVICE, **dimensions},
        statistic=statistic,
        period=FIVE_MINUTES,
    )


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        namespace: str,
        functions: dict[str, lambda_.Function],
        pack_worker: str,
        api: apigw.RestApi,
        state_machine: sfn.StateMachine,
        queues: dict[str, sqs.Queue],
        dead_letter_queues: list[sqs.Queue],
        table: dynamodb.Table,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(self, "Alarms", display_name="Carton alarms", enforce_ssl=True)
        acknowledge(
            self.topic,
            "AwsSolutions-SNS2",
            "Alarm notifications carry no data, only alarm names and states; CloudWatch cannot publish to a "
            "topic under the AWS-managed SNS key, and a customer key would cost more than it protects.",
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []
        self._namespace = namespace

        requests, server_errors = api.metric_count(period=FIVE_MINUTES), api.metric_server_error(period=FIVE_MINUTES)
        self._alarm(
            "Api5xxRate",
            cloudwatch.MathExpression(
                expression="100 * errors / IF(requests > 0, requests, 1)",
                using_metrics={"errors": server_errors, "requests": requests},
                period=FIVE_MINUTES,
                label="5xx %",
            ),
            API_5XX_PERCENT,
            f"Over {API_5XX_PERCENT}% of API requests answered 5xx for ten minutes: a function crashes or "
            "times out, or storage is throttled (503). Look at the functions' error alarms and logs.",
            periods=2,
        )
        latency = api.metric_latency(period=FIVE_MINUTES, statistic="p90")
        self._alarm(
            "ApiLatencyP90",
            latency,
            API_P90_MILLISECONDS,
            f"The API's p90 latency stayed over {API_P90_MILLISECONDS} ms for 15 minutes: cold starts, "
            "slow URL imports, or DynamoDB/S3 slowing down.",
            periods=3,
        )
        for name, function in sorted(functions.items()):
            throttles = function.metric_throttles(period=FIVE_MINUTES)
            scale = f" / {PACK_THROTTLES_PER_FAULT}" if name == pack_worker else ""
            self._alarm(
                f"Faults{''.join(part.title() for part in name.split('_'))}",
                cloudwatch.MathExpression(
                    expression=f"MAX([errors, throttles{scale}])",
                    using_metrics={"errors": function.metric_errors(period=FIVE_MINUTES), "throttles": throttles},
                    period=FIVE_MINUTES,
                    label=f"{name} errors or throttles",
                ),
                FUNCTION_FAULTS,
                f"Function {name} failed or was throttled {FUNCTION_FAULTS}+ times in five minutes"
                + (f" (throttles count 1/{PACK_THROTTLES_PER_FAULT}: packing waits its turn)" if scale else "")
                + ". Its log group says why.",
            )
        self._alarm(
            "PackagingFailures",
            state_machine.metric_failed(period=FIVE_MINUTES),
            5,
            "Five or more packaging executions failed within five minutes: see the downloads' error codes "
            "(DownloadsFailed by code on the dashboard) and the workflow's execution history.",
        )
        self._alarm(
            "PackagingTimeouts",
            state_machine.metric_timed_out(period=FIVE_MINUTES),
            1,
            "A packaging execution timed out: its download was failed (timeout); a step may need more time.",
        )
        self._alarm(
            "DownloadsStalled",
            carton_metric(namespace, "DownloadsSwept", outcome="stalled"),
            1,
            "The sweeper stopped a download that made no progress for an hour: a step hangs. "
            "The download failed with code stalled; its execution history shows where.",
        )
        for index, queue in enumerate(dead_letter_queues):
            self._alarm(
                f"DeadLetters{index}",
                queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES),
                1,
                "S3 events that could not be processed are waiting in a dead-letter queue: read one, fix the "
                "cause, then move them back (SQS redrive).",
            )
        for name, queue in sorted(queues.items()):
            self._alarm(
                f"FeedAge{name.title().replace('-', '')}",
                queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum"),
                FEED_MESSAGE_AGE_SECONDS,
                f"The {name} feed has had a message waiting over {FEED_MESSAGE_AGE_SECONDS // 60} minutes: its "
                "function is failing, throttled or too slow for the arrivals.",
                periods=2,
            )
        self._alarm(
            "TableThrottling",
            cloudwatch.MathExpression(
                expression="reads + writes",
                using_metrics={
                    "reads": table.metric("ReadThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
                    "writes": table.metric("WriteThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
                },
                period=FIVE_MINUTES,
                label="throttled requests",
            ),
            10,
            "DynamoDB throttled the table's requests: a hot key or a burst beyond on-demand's headroom. "
            "Steps retry; a sustained rate needs a look at the access pattern.",
        )
        self.dashboard = self._dashboard(api, state_machine, queues, dead_letter_queues)

    def _alarm(
        self,
        id: str,
        metric: cloudwatch.Metric | cloudwatch.MathExpression,
        threshold: float,
        description: str,
        periods: int = 1,
    ) -> cloudwatch.Alarm:
        alarm = metric.create_alarm(
            self,
            id,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=_AT_LEAST,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _dashboard(
        self,
        api: apigw.RestApi,
        state_machine: sfn.StateMachine,
        queues: dict[str, sqs.Queue],
        dead_letter_queues: list[sqs.Queue],
    ) -> cloudwatch.Dashboard:
        metric = self._metric
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=cdk.Duration.hours(6))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests",
                left=[
                    api.metric_count(period=FIVE_MINUTES),
                    api.metric_client_error(period=FIVE_MINUTES),
                    api.metric_server_error(period=FIVE_MINUTES),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="API latency (ms)",
                left=[api.metric_latency(period=FIVE_MINUTES, statistic=stat) for stat in ("p50", "p90", "p99")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Downloads",
                left=[metric("DownloadsCreated"), metric("DownloadsCompleted"), metric("DownloadsFailed")],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Bytes packaged", left=[metric("BytesPackaged")], width=8),
            cloudwatch.GraphWidget(
                title="Packaging duration (s)",
                left=[metric("PackagingSeconds", stat) for stat in ("p50", "p90", "Maximum")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Executions",
                left=[
                    state_machine.metric_started(period=FIVE_MINUTES),
                    state_machine.metric_succeeded(period=FIVE_MINUTES),
                    state_machine.metric_failed(period=FIVE_MINUTES),
                    state_machine.metric_timed_out(period=FIVE_MINUTES),
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Feed queues (messages waiting)",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, label=name)
                    for name, queue in sorted(queues.items())
                ]
                + [
                    queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, label="dead letters")
                    for queue in dead_letter_queues
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Assets",
                left=[metric("AssetsIngested"), metric("FilesSkipped")],
                width=8,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=8, height=6),
        )
        return dashboard

    def _metric(self, name: str, statistic: str = "Sum") -> cloudwatch.Metric:
        return carton_metric(self._namespace, name, statistic)
