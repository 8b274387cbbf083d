#!/usr/bin/env python3
"""CDK entry point: `make synth` / `make deploy` / `make destroy`. cdk-nag's AwsSolutions pack runs at synth.

The stack is named by CARTON_STACK (default Carton), so one account can hold several
(staging, production, one per pull request).
"""

import os
import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.settings import ConfigurationError
from infra.stack import CartonStack

STACK_ENV = "CARTON_STACK"
DEFAULT_STACK = "Carton"

app = cdk.App()
try:
    CartonStack(app, os.environ.get(STACK_ENV) or DEFAULT_STACK, description="Carton: serverless bulk downloads")
except ConfigurationError as error:
    sys.exit(f"Carton cannot be synthesized: {error}")
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
