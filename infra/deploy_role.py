"""The role GitHub Actions deploys Carton with: OIDC federation trusted by one repository, no stored keys.

`make deploy-role GITHUB_REPO=<owner>/<name>` deploys it once per AWS account and region (with
administrator credentials, after `cdk bootstrap`); its `RoleArn` output goes into the repository
variable AWS_DEPLOY_ROLE_ARN. `python -m infra.deploy_role` is this CDK app (context `github_repo`,
and `github_oidc_provider_arn` when the account already has GitHub's OIDC provider: an account
holds at most one per URL); `python -m infra.deploy_role --check <repository>` only checks the name.

The role itself creates nothing: it may assume the roles `cdk bootstrap` made (which deploy
through CloudFormation), read Carton stacks' outputs, invoke their admin function (`make account`
on a deployed stack) and empty their archives buckets (CloudFormation deletes only an empty
bucket, and a pull request's stack is destroyed after its e2e run built archives).
"""

from __future__ import annotations

import re
import sys

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from carton.storage.schema import ADMIN_FUNCTION
from infra.nag import acknowledge

STACK_NAME = "CartonDeployRole"
REPOSITORY_CONTEXT = "github_repo"
OIDC_PROVIDER_CONTEXT = "github_oidc_provider_arn"
ROLE_ARN_OUTPUT = "RoleArn"

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
# What the workflows run as, in the token's `sub`: a pull request's jobs (no environment), the
# jobs of the two environments (a job with an environment is named by it, not by its branch),
# and jobs of main without an environment (none in .github/workflows today: one can be added
# without deploying the role again).
SUBJECTS = ("pull_request", "environment:staging", "environment:production", "ref:refs/heads/main")
# `cdk bootstrap`'s default qualifier: its roles are cdk-<qualifier>-<purpose>-<account>-<region>.
CDK_QUALIFIER = "hnb659fds"
# Every stack the workflows deploy is named Carton<something> (Carton, CartonStaging, CartonPr12).
STACK_PREFIX = "Carton"
# A pull request's run (deploy, e2e, destroy) can outlast the default hour.
MAX_SESSION = cdk.Duration.hours(2)

# owner/name as GitHub spells it, or the immutable form owner@<owner id>/name@<repository id> that
# repositories created from 15 July 2026 on (and those opted in) put in their tokens' `sub`.
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:@\d+)?/[A-Za-z0-9._-]+(?:@\d+)?$")


def github_repository(text: str) -> str:
    """The repository the role trusts, checked; ValueError says how to name it."""
    repository = text.strip()
    if not _REPOSITORY.match(repository) or repository.split("/")[1].split("@")[0] in (".", ".."):
        raise ValueError(
            f"GITHUB_REPO={text!r} is not a GitHub repository: use make deploy-role GITHUB_REPO=<owner>/<name> "
            "(or <owner>@<owner id>/<name>@<repository id> when its OIDC tokens carry the immutable subject)"
        )
    return repository


def subjects(repository: str) -> list[str]:
    """The token subjects the role accepts: this repository's workflows, in the SUBJECTS only."""
    return [f"repo:{repository}:{subject}" for subject in SUBJECTS]


def admin_functions() -> str:
    """The admin functions of Carton stacks, by the name CloudFormation gives them:
    <stack>-<logical id>-<suffix>, the logical id being Functions/<name>/Function's (infra/functions.py)."""
    return f"{STACK_PREFIX}*-Functions{ADMIN_FUNCTION}Function*"


def archives_buckets() -> str:
    """The archives buckets of Carton stacks, by the name CloudFormation gives them: <stack>-<logical
    id>-<suffix> in lowercase, the logical id being Storage/Archives' (infra/storage.py)."""
    return f"{STACK_PREFIX.lower()}*-storagearchives*"


class DeployRoleStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        repository: str,
        oidc_provider_arn: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        if oidc_provider_arn is None:
            # No thumbprint: IAM checks GitHub's certificate against its own trusted authorities.
            provider = iam.OidcProviderNative(
                self, "GitHubOidcProvider", url=f"https://{GITHUB_OIDC_HOST}", client_ids=[STS_AUDIENCE]
            )
            oidc_provider_arn = provider.oidc_provider_arn
        role = iam.Role(
            self,
            "Role",
            description=f"GitHub Actions of {repository} deploy Carton",
            max_session_duration=MAX_SESSION,
            assumed_by=iam.WebIdentityPrincipal(
                oidc_provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": subjects(repository),
                    }
                },
            ),
        )
        account, region, partition = cdk.Aws.ACCOUNT_ID, cdk.Aws.REGION, cdk.Aws.PARTITION
        bootstrap_roles = f"arn:{partition}:iam::{account}:role/cdk-{CDK_QUALIFIER}-*-{account}-{region}"
        carton_stacks = f"arn:{partition}:cloudformation:{region}:{account}:stack/{STACK_PREFIX}*/*"
        admin_function = f"arn:{partition}:lambda:{region}:{account}:function:{admin_functions()}"
        archives = f"arn:{partition}:s3:::{archives_buckets()}"
        role.add_to_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[bootstrap_roles]))
        role.add_to_policy(iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[carton_stacks]))
        role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[admin_function]))
        # Bucket ARNs name no account: the condition keeps the role to this account's buckets.
        this_account = {"StringEquals": {"s3:ResourceAccount": account}}
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[archives], conditions=this_account)
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:DeleteObject"], resources=[f"{archives}/*"], conditions=this_account)
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/"
            f"cdk-{CDK_QUALIFIER}-*-<AWS::AccountId>-<AWS::Region>]",
            "cdk deploy assumes the bootstrap roles (deploy, file publishing, lookup) of this account and "
            "region, and no other role; their names differ only in their purpose.",
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:"
            f"stack/{STACK_PREFIX}*/*]",
            "Reads the outputs (API URL, admin function) of the Carton stacks it deploys, one per pull request: "
            "their names are known only when the workflow runs.",
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:"
            f"function:{admin_functions()}]",
            "make account invokes the admin function of the stack it names; CloudFormation generates the "
            "function's name, so only its stack and logical id are known in advance.",
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{archives_buckets()}]",
            "Lists the archives bucket of the pull request's stack it is about to destroy; CloudFormation "
            "generates the bucket's name, so only its stack and logical id are known in advance.",
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{archives_buckets()}/*]",
            "Empties that bucket of the archives the e2e suite built (derived data, built again on demand), "
            "so that CloudFormation can delete it with the stack.",
        )
        cdk.CfnOutput(
            self, ROLE_ARN_OUTPUT, value=role.role_arn, description="the repository variable AWS_DEPLOY_ROLE_ARN"
        )


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check"]:
        try:
            github_repository(" ".join(argv[1:]))
        except ValueError as error:
            print(error, file=sys.stderr)
            return 2
        return 0
    app = cdk.App()
    try:
        repository = github_repository(str(app.node.try_get_context(REPOSITORY_CONTEXT) or ""))
    except ValueError as error:
        print(f"The deploy role cannot be synthesized: {error}", file=sys.stderr)
        return 2
    DeployRoleStack(
        app,
        STACK_NAME,
        repository=repository,
        oidc_provider_arn=app.node.try_get_context(OIDC_PROVIDER_CONTEXT) or None,
        description=f"Carton: the role GitHub Actions of {repository} deploy with",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
