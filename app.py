#!/usr/bin/env python3
"""CDK entry point: `make synth` / `make deploy`. cdk-nag's AwsSolutions pack runs at synth."""

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.stack import CartonStack

app = cdk.App()
CartonStack(app, "Carton", description="Carton: serverless bulk downloads")
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
